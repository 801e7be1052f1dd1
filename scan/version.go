package scan

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rawkit/rawkit/rawsock"
)

// Service detection (-sV): on each open TCP port, the service's own
// words, read the way a client would meet them: the banner a server
// sends first (SSH's identification, RFC 4253 4.2; FTP's, SMTP's, POP3's
// and IMAP's greetings), else the answer to an HTTP request (its Server
// header), else a TLS handshake (crypto/tls: the certificate's subject,
// issuer and expiry, the ALPN protocol) and HTTP inside it. The rules
// are rawkit's own, a handful; nmap's probe database is not used, so a
// version is named only where the service says it plainly.

// Service is what -sV found on a port.
type Service struct {
	Name      string   `json:"name"` // nmap's service name: ssh, http, ssl/http, ftp, tcpwrapped, ...
	Product   string   `json:"product,omitempty"`
	Version   string   `json:"version,omitempty"`
	ExtraInfo string   `json:"extrainfo,omitempty"`
	Tunnel    string   `json:"tunnel,omitempty"` // "ssl" when spoken over TLS
	TLS       *TLSInfo `json:"tls,omitempty"`
	// Guess marks a name taken from the port number, the service not
	// recognised (nmap's "?").
	Guess bool `json:"guess,omitempty"`
}

// TLSInfo is the server's certificate and the protocol it chose.
type TLSInfo struct {
	Subject  string `json:"subject"`
	Issuer   string `json:"issuer"`
	NotAfter string `json:"not_after"`
	ALPN     string `json:"alpn,omitempty"`
	Version  string `json:"version"`
}

// VersionText is nmap's VERSION column: product, version, (extrainfo).
func (v Service) VersionText() string {
	var parts []string
	for _, p := range []string{v.Product, v.Version} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if v.ExtraInfo != "" {
		parts = append(parts, "("+v.ExtraInfo+")")
	}
	return strings.Join(parts, " ")
}

// column is nmap's SERVICE column with -sV.
func (v Service) column() string {
	if v.Guess {
		return v.Name + "?"
	}
	return v.Name
}

// Waits of one port's detection: for the connection, for a banner the
// server sends unasked, for an answer to a request.
const (
	connectWait = 3 * time.Second
	bannerWait  = 2 * time.Second
	answerWait  = 3 * time.Second
)

type dialFunc func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)

// detectVersions probes every open TCP port of results, a few at once,
// and keeps what it found in s.services.
func (s *scanner) detectVersions(ctx context.Context, results []Result, dial dialFunc) {
	s.services = map[netip.AddrPort]Service{}
	work := make(chan netip.AddrPort)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ap := range work {
				v := detect(ctx, ap, dial)
				mu.Lock()
				s.services[ap] = v
				mu.Unlock()
			}
		}()
	}
	for _, r := range results {
		if r.State == Open && ctx.Err() == nil {
			work <- netip.AddrPortFrom(r.Addr, r.Port)
		}
	}
	close(work)
	wg.Wait()
}

// detect finds what speaks on one port.
func detect(ctx context.Context, ap netip.AddrPort, dial dialFunc) Service {
	guess := Service{Name: ServiceName("tcp", ap.Port()), Guess: true}
	c, err := dial(ctx, ap)
	if err != nil {
		return guess
	}
	defer c.Close()
	// The banner a server sends first.
	first, err := readSome(c, bannerWait)
	if len(first) > 0 {
		if v, ok := fromBanner(first); ok {
			return v
		}
		return guess
	}
	closed := errors.Is(err, io.EOF) || isReset(err)
	if !closed {
		// Nothing said: ask as an HTTP client would.
		c.SetWriteDeadline(time.Now().Add(answerWait))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err == nil {
			answer, err := readSome(c, answerWait)
			if v, ok := fromHTTP(answer); ok {
				return v
			}
			closed = len(answer) == 0 && (errors.Is(err, io.EOF) || isReset(err))
			if len(answer) > 0 && !isTLSAlert(answer) {
				return guess
			}
		}
	}
	// Closed on a plain request, or a TLS alert: perhaps it speaks TLS.
	if v, ok := overTLS(ctx, ap, dial); ok {
		return v
	}
	if closed {
		// Accepted and closed without a word: nmap's "tcpwrapped".
		return Service{Name: "tcpwrapped"}
	}
	return guess
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "connection reset")
}

func isTLSAlert(b []byte) bool { return len(b) >= 3 && b[0] == 0x15 && b[1] == 3 }

// readSome reads what arrives within wait, up to 4 KiB: at least one
// line when the server sends lines.
func readSome(c net.Conn, wait time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	for err == nil && n < len(buf) && !strings.Contains(string(buf[:n]), "\n") {
		var m int
		m, err = c.Read(buf[n:])
		n += m
	}
	if n > 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:n], err
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r")
}

var (
	sshSoftware = regexp.MustCompile(`^SSH-([\d.]+)-([^\s_-]+)[_-]?(\S*)\s*(.*)$`)
	vsftpd      = regexp.MustCompile(`\(vsFTPd ([\d.]+)\)`)
	proftpd     = regexp.MustCompile(`ProFTPD(?: ([\d.a-z]+))?`)
	exim        = regexp.MustCompile(`Exim ([\d.]+)`)
	postfix     = regexp.MustCompile(`ESMTP Postfix`)
	dovecot     = regexp.MustCompile(`Dovecot`)
)

// fromBanner reads a greeting a server sends unasked.
func fromBanner(b []byte) (Service, bool) {
	line := firstLine(b)
	switch {
	case strings.HasPrefix(line, "SSH-"):
		v := Service{Name: "ssh"}
		if m := sshSoftware.FindStringSubmatch(line); m != nil {
			product := m[2]
			switch strings.ToLower(product) {
			case "openssh":
				product = "OpenSSH"
			case "dropbear":
				product = "Dropbear sshd"
			}
			v.Product, v.Version = product, m[3]
			if m[4] != "" {
				// OpenSSH's distribution comment, as nmap writes it:
				// "Debian-2+deb12u3" -> "Debian 2+deb12u3".
				v.Version = strings.TrimSpace(v.Version + " " + strings.Replace(m[4], "-", " ", 1))
			}
			proto := m[1]
			if proto == "1.99" {
				proto = "2.0"
			}
			v.ExtraInfo = "protocol " + proto
		}
		return v, true
	case strings.HasPrefix(line, "220") && (strings.Contains(line, "FTP") || strings.Contains(line, "ftp")):
		v := Service{Name: "ftp"}
		if m := vsftpd.FindStringSubmatch(line); m != nil {
			v.Product, v.Version = "vsftpd", m[1]
		} else if m := proftpd.FindStringSubmatch(line); m != nil {
			v.Product, v.Version = "ProFTPD", m[1]
		}
		return v, true
	case strings.HasPrefix(line, "220") && strings.Contains(line, "SMTP"):
		v := Service{Name: "smtp"}
		switch {
		case postfix.MatchString(line):
			v.Product = "Postfix smtpd"
		case exim.MatchString(line):
			v.Product, v.Version = "Exim smtpd", exim.FindStringSubmatch(line)[1]
		}
		return v, true
	case strings.HasPrefix(line, "+OK"):
		v := Service{Name: "pop3"}
		if dovecot.MatchString(line) {
			v.Product = "Dovecot pop3d"
		}
		return v, true
	case strings.HasPrefix(line, "* OK"):
		v := Service{Name: "imap"}
		if dovecot.MatchString(line) {
			v.Product = "Dovecot imapd"
		}
		return v, true
	case strings.HasPrefix(line, "HTTP/"):
		return fromHTTP(b)
	}
	return Service{}, false
}

// httpProducts are nmap's names for the servers that name themselves
// otherwise in their Server header.
var httpProducts = map[string]string{"apache": "Apache httpd", "microsoft-iis": "Microsoft IIS httpd", "nginx": "nginx",
	"lighttpd": "lighttpd", "caddy": "Caddy httpd", "openresty": "OpenResty web app server"}

// fromHTTP reads an HTTP response: the service is http; the Server
// header, "Name/Version (comment)", names the product.
func fromHTTP(b []byte) (Service, bool) {
	if !strings.HasPrefix(string(b), "HTTP/") {
		return Service{}, false
	}
	v := Service{Name: "http"}
	r := bufio.NewReader(strings.NewReader(string(b)))
	r.ReadString('\n')
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" || err != nil && line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(name, "Server") {
			if err != nil {
				break
			}
			continue
		}
		value = strings.TrimSpace(value)
		product, rest, _ := strings.Cut(value, " ")
		name, version, _ := strings.Cut(product, "/")
		if p, ok := httpProducts[strings.ToLower(name)]; ok {
			name = p
		}
		v.Product, v.Version = name, version
		if rest = strings.TrimSpace(rest); rest != "" {
			v.ExtraInfo = rest
		}
		break
	}
	return v, true
}

// overTLS tries a TLS handshake; if it holds, the certificate is kept and
// HTTP is asked inside.
func overTLS(ctx context.Context, ap netip.AddrPort, dial dialFunc) (Service, bool) {
	c, err := dial(ctx, ap)
	if err != nil {
		return Service{}, false
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, ServerName: ap.Addr().String()}) // #nosec: detection, not trust
	tc.SetDeadline(time.Now().Add(answerWait))
	if err := tc.Handshake(); err != nil {
		return Service{}, false
	}
	st := tc.ConnectionState()
	info := &TLSInfo{ALPN: st.NegotiatedProtocol, Version: tls.VersionName(st.Version)}
	if len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		info.Subject, info.Issuer = cert.Subject.String(), cert.Issuer.String()
		info.NotAfter = cert.NotAfter.UTC().Format(time.RFC3339)
	}
	v := Service{Name: "ssl/" + ServiceName("tcp", ap.Port()), Tunnel: "ssl", TLS: info, Guess: true}
	if _, err := io.WriteString(tc, "GET / HTTP/1.0\r\nHost: "+ap.Addr().String()+"\r\n\r\n"); err == nil {
		if answer, _ := readSome(tc, answerWait); len(answer) > 0 {
			if h, ok := fromHTTP(answer); ok {
				h.Name, h.Tunnel, h.TLS = "ssl/http", "ssl", info
				return h, true
			}
		}
	}
	return v, true
}

// versionDialer dials the scan's targets: in --netns's namespace from
// threads that entered it before the scan gave up its capabilities.
func (s *scanner) versionDialer() (dialFunc, func(), error) {
	d := net.Dialer{Timeout: connectWait}
	if s.opts.Source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: s.opts.Source.AsSlice()}
	}
	if s.opts.Netns == "" {
		return func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", ap.String())
		}, func() {}, nil
	}
	type dialed struct {
		c   net.Conn
		err error
	}
	type request struct {
		ctx   context.Context
		ap    netip.AddrPort
		reply chan dialed
	}
	reqs := make(chan request)
	ready := make(chan error, 4)
	for range 4 {
		go func() {
			// This thread stays in the namespace (and is dropped with the
			// goroutine's end): the sockets it opens are the namespace's.
			if err := rawsock.EnterNetnsForGood(s.opts.Netns); err != nil {
				ready <- err
				return
			}
			ready <- nil
			for r := range reqs {
				c, err := d.DialContext(r.ctx, "tcp", r.ap.String())
				r.reply <- dialed{c, err}
			}
		}()
	}
	for range 4 {
		if err := <-ready; err != nil {
			close(reqs)
			return nil, nil, err
		}
	}
	return func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		r := request{ctx, ap, make(chan dialed, 1)}
		reqs <- r
		got := <-r.reply
		if got.err != nil {
			return nil, got.err
		}
		return got.c, nil
	}, func() { close(reqs) }, nil
}

// xml is the port's <service> element as nmap writes it after -sV.
func (v Service) xml() string {
	var b strings.Builder
	name := strings.TrimPrefix(v.Name, "ssl/")
	fmt.Fprintf(&b, "<service name=\"%s\"", attr(name))
	for _, a := range [][2]string{{"product", v.Product}, {"version", v.Version}, {"extrainfo", v.ExtraInfo}, {"tunnel", v.Tunnel}} {
		if a[1] != "" {
			fmt.Fprintf(&b, " %s=\"%s\"", a[0], attr(a[1]))
		}
	}
	method, conf := "probed", 10
	if v.Guess {
		method, conf = "table", 3
	}
	fmt.Fprintf(&b, " method=\"%s\" conf=\"%d\"/>", method, conf)
	return b.String()
}

// serviceScan runs -sV over the open ports, with nmap's -v lines.
func (s *scanner) serviceScan(ctx context.Context, results []Result, dial dialFunc) {
	open, hosts := 0, map[netip.Addr]bool{}
	for _, r := range results {
		if r.State == Open {
			open++
			hosts[r.Addr] = true
		}
	}
	if open == 0 {
		s.services = map[netip.AddrPort]Service{}
		return
	}
	if v := s.verbose; v != nil && v.w != nil {
		v.began = time.Now()
		v.line("Initiating Service scan at %s", v.began.Format("15:04"))
		on := fmt.Sprintf("%d hosts", len(hosts))
		if len(hosts) == 1 {
			for a := range hosts {
				on = a.String()
			}
		}
		v.line("Scanning %s on %s", plural(open, "service", "services"), on)
	}
	s.detectVersions(ctx, results, dial)
	if v := s.verbose; v != nil && v.w != nil {
		now := time.Now()
		v.line("Completed Service scan at %s, %.2fs elapsed (%s on %s)", now.Format("15:04"), now.Sub(v.began).Seconds(),
			plural(open, "service", "services"), plural(len(hosts), "host", "hosts"))
	}
	if s.stream != nil {
		for _, r := range results {
			if v, ok := s.services[netip.AddrPortFrom(r.Addr, r.Port)]; ok {
				s.stream.Write("service", jsonService{IP: r.Addr.String(), Port: r.Port, Proto: "tcp", Service: v})
			}
		}
	}
}

// jsonService is a port's -sV record.
type jsonService struct {
	IP    string `json:"ip"`
	Port  uint16 `json:"port"`
	Proto string `json:"proto"`
	Service
}
