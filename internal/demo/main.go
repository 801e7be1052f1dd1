//go:build linux

// Command demo is `make demo`: it builds a private namespace lab (a
// client, two routers, a server that also answers for 198.19.0.0/24),
// runs every rawkit tool that exists against it with readable output, and
// removes the lab, also when interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rawkit/rawkit/internal/netlab"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin, err := filepath.Abs("bin")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(bin, "ping")); err != nil {
		return errors.New("no bin/ping: run `make demo`, which builds first")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lab, err := netlab.New(netlab.Spec{
		Routers:        3,
		Silent:         []int{3},
		ECMP:           2,
		ServerPrefixes: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/24")},
		Services: netlab.Services{
			TCP: map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open, 23: netlab.Filtered, 24: netlab.Rejected},
			UDP: map[int]netlab.PortState{53: netlab.Open, 54: netlab.Filtered},
		},
	})
	if err != nil {
		return err
	}
	defer lab.Close()
	fmt.Println("== A private lab of network namespaces; nothing leaves this machine.")
	for _, n := range lab.Nodes() {
		fmt.Printf("   %-7s %-15s %s\n", n.Name, n.Addr4, n.Addr6)
	}
	fmt.Println("   r2b is r2's twin (an ECMP diamond); r3 drops the time-exceeded it would send;")
	fmt.Println("   the server answers for all of 198.19.0.0/24; TCP 22 and 80 and UDP 53 are open,")
	fmt.Println("   TCP 23 and UDP 54 dropped, TCP 24 rejected (ICMP admin-prohibited).")

	srv4, srv6 := lab.Server.Addr4.String(), lab.Server.Addr6.String()
	steps := []struct {
		say  string
		argv []string
	}{
		{"Is the server up? (IPv4, iputils-style output)", []string{"ping", "-c", "3", "-i", "0.2", srv4}},
		{"The same over IPv6, options after the target", []string{"ping", srv6, "-c", "3", "-i", "0.2"}},
		{"A runbook assertion: exit 0 only if loss < 1% and p99 < 20 ms", []string{"ping", "-c", "5", "-i", "0.05", "-q", srv4, "--expect", "loss<1%", "--expect", "p99<20ms"}},
		{"Machine-readable: NDJSON, one record per line", []string{"ping", "-c", "2", "-i", "0.1", "--json", srv6}},
		{"A sweep: every host of 198.19.0.0/28 at once, like fping", []string{"ping", "-c", "1", "-W", "1", "198.19.0.0/28"}},
		{"TTL 1: the first router answers time exceeded; exit 1", []string{"ping", "-c", "1", "-W", "1", "-t", "1", srv4}},
		{"TTL 3: r3 is silent, so only the wait ends it; exit 1", []string{"ping", "-c", "1", "-W", "1", "-t", "3", srv4}},
		{"A target nobody answers for (the lab blackholes 198.18.255.0/24): exit 1 after -W", []string{"ping", "-c", "2", "-i", "0.2", "-W", "1", "198.18.255.1"}},
		{"Where does the path go? r3 drops its time-exceeded: *", []string{"traceroute", "-n", srv4}},
		{"The same with TCP SYN probes to port 80, over IPv6", []string{"traceroute", "-n", "-T", srv6}},
		{"The ECMP diamond at hop 2: 8 flows find both branches", []string{"traceroute", "-n", "--paths", "8", "-q", "1", srv4}},
		{"mtr-style report: r3's 100% loss does not persist, so it only rate-limits ICMP", []string{"traceroute", "-n", "--report", "-c", "5", srv4}},
		{"A destination that never answers: the trace ends quickly and exits 1", []string{"traceroute", "-n", "-m", "8", "198.18.255.1"}},
		{"A runbook check: reached within 4 hops?", []string{"traceroute", "-n", "-q", "1", srv4, "--expect", "reached", "--expect", "hops<=4"}},
		{"Which ports answer? A SYN scan, every state with nmap's reasons", []string{"portscan", "-p", "20-25,80", "--all", srv4}},
		{"The same over IPv6, as NDJSON, open ports only", []string{"portscan", "-p", "20-25,80", "--json", srv6}},
		{"UDP with real payloads (a DNS query to 53)", []string{"portscan", "-U", "-p", "53-55", "--all", srv4}},
		{"Port 80 across 198.19.0.0/28 (14 hosts), in a random order", []string{"portscan", "-p", "80", "198.19.0.0/28"}},
		{"A runbook check: SSH open and telnet closed? (telnet is dropped: exit 1)", []string{"portscan", "-p", "22,23", srv4, "--expect", "open:22", "--expect", "closed:23"}},
	}
	// sniff runs alongside a ping, so it has something to see.
	sniffStep := func(say string, args ...string) error {
		if ctx.Err() != nil {
			return nil
		}
		fmt.Printf("\n== %s\n$ sniff %s   (while: ping -c 3 -i 0.2 %s)\n", say, strings.Join(args, " "), srv4)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := lab.Command(cctx, lab.Client, filepath.Join(bin, "sniff"), args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		if err := cmd.Start(); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		lab.Command(cctx, lab.Client, "ping", "-q", "-c", "3", "-i", "0.2", srv4).Run()
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			return err
		}
		fmt.Printf("(exit %d)\n", code)
		return nil
	}
	defer func() {
		if err := sniffStep("What is on the wire? Echo requests only, on every interface", "-c", "3", "icmp[icmptype] == icmp-echo"); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		if err := sniffStep("The same as NDJSON, on one interface, filtered in the kernel", "-i", "to-r1", "-c", "2", "--json", "icmp"); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		fmt.Println("\n== Removing the lab.")
	}()
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		fmt.Printf("\n== %s\n$ %s\n", s.say, strings.Join(s.argv, " "))
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := lab.Command(cctx, lab.Client, filepath.Join(bin, s.argv[0]), s.argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		err := cmd.Run()
		cancel()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			return err
		}
		fmt.Printf("(exit %d)\n", code)
	}
	return nil
}
