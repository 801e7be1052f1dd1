//go:build linux

package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

// serve listens on port in the lab's server and talks to each client as
// speak says, until the test ends.
func serve(t *testing.T, lab *netlab.Lab, port string, config *tls.Config, speak func(c net.Conn)) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := lab.InNamespace(lab.Server, func() (err error) {
		ln, err = net.Listen("tcp", ":"+port)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if config != nil {
		ln = tls.NewListener(ln, config)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				speak(c)
			}()
		}
	}()
	return ln
}

func selfSigned(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// -sV names services by their own words: banners, HTTP's Server header,
// HTTP inside TLS, and "tcpwrapped" for a port that closes at once; the
// VERSION column equals nmap's for the services both know.
func TestServiceVersions(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	banner := func(text string) func(net.Conn) {
		return func(c net.Conn) {
			c.Write([]byte(text))
			bufio.NewReader(c).ReadString('\n') // hold until the client goes
		}
	}
	http := func(server string) func(net.Conn) {
		return func(c net.Conn) {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil || strings.TrimSpace(line) == "" {
					break
				}
			}
			c.Write([]byte("HTTP/1.1 200 OK\r\nServer: " + server + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		}
	}
	ssh := serve(t, lab, "2222", nil, banner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
	serve(t, lab, "2121", nil, banner("220 (vsFTPd 3.0.3)\r\n"))
	serve(t, lab, "2525", nil, banner("220 mail.example ESMTP Postfix (Debian/GNU)\r\n"))
	serve(t, lab, "8080", nil, http("nginx/1.22.1"))
	serve(t, lab, "8443", selfSigned(t), http("Apache/2.4.57 (Debian)"))
	serve(t, lab, "9000", nil, func(net.Conn) {})
	ports := "2121,2222,2525,8080,8443,9000"
	want := map[string]string{
		"2121": "ftp vsftpd 3.0.3",
		"2222": "ssh OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)",
		"2525": "smtp Postfix smtpd",
		"8080": "http nginx 1.22.1",
		"8443": "ssl/http Apache httpd 2.4.57 ((Debian))",
		"9000": "tcpwrapped",
	}
	row := regexp.MustCompile(`(?m)^(\d+)/tcp +open +(\S+) *(.*)$`)
	table := func(out string) map[string]string {
		got := map[string]string{}
		for _, m := range row.FindAllStringSubmatch(out, -1) {
			got[m[1]] = strings.TrimSpace(m[2] + " " + m[3])
		}
		return got
	}
	ours := runScan(t, lab, "-n", "-sV", "-p", ports, dst)
	got := table(ours.Stdout)
	for port, w := range want {
		if got[port] != w {
			t.Errorf("port %s: %q, want %q\n%s%s", port, got[port], w, ours.Stdout, ours.Stderr)
		}
	}
	if ours.Code != 0 || !strings.Contains(ours.Stdout, "PORT     STATE SERVICE    VERSION\n") {
		t.Errorf("exit %d; the table's header:\n%s", ours.Code, ours.Stdout)
	}
	// JSON: a service record per open port, with the certificate.
	js := runScan(t, lab, "-n", "-sV", "--json", "-p", "8443", dst)
	if !strings.Contains(js.Stdout, `"type":"service"`) || !strings.Contains(js.Stdout, `"subject":"CN=lab.example"`) {
		t.Errorf("--json -sV lacks the service record or its certificate:\n%s", js.Stdout)
	}
	// The oracle: nmap -sV on the ports whose services it knows.
	ref := labtest.Run(t, lab, lab.Client, 5*time.Minute, "nmap", "-n", "-sV", "-p", "2121,2222,2525,8080,8443", dst)
	theirs := table(ref.Stdout)
	for _, port := range []string{"2121", "2222", "2525", "8080", "8443"} {
		if theirs[port] != got[port] {
			t.Errorf("port %s: ours %q, nmap's %q", port, got[port], theirs[port])
		}
	}
	// --diff: an upgraded SSH server is a changed service.
	old := filepath.Join(t.TempDir(), "old.json")
	os.Chmod(filepath.Dir(old), 0o755)
	before := runScan(t, lab, "-n", "-sV", "--json", "-p", "2222", dst)
	if err := os.WriteFile(old, []byte(before.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	ssh.Close()
	serve(t, lab, "2222", nil, banner("SSH-2.0-OpenSSH_9.6p1 Debian-1\r\n"))
	changed := runScan(t, lab, "-n", "-sV", "--diff", old, "--expect", "unchanged", "-p", "2222", dst)
	if changed.Code != 1 || !strings.Contains(changed.Stdout, "2222/tcp: ssh OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0) -> ssh OpenSSH 9.6p1 Debian 1 (protocol 2.0)") {
		t.Errorf("--diff of a changed service: exit %d\n%s%s", changed.Code, changed.Stdout, changed.Stderr)
	}
}
