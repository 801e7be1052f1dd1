//go:build linux

package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Spec describes a lab. The zero value is a client wired straight to a
// server.
type Spec struct {
	// Routers is the number of routers between client and server.
	Routers int
	// Silent lists routers (1 is the client's neighbour) that drop the
	// ICMP time-exceeded messages they would send.
	Silent []int
	// Loss is the probability, 0 to 1, that a packet arriving at the
	// server is dropped; ReturnLoss that one leaving it is.
	Loss, ReturnLoss float64
	// MTU, when non-zero, is the MTU of the server's link; the others
	// keep 1500.
	MTU int
	// ServerPrefixes are prefixes the server answers for as a whole,
	// every address in them local to it. They must lie inside
	// 198.18.0.0/15 or 2001:db8::/32 and outside the link prefixes.
	ServerPrefixes []netip.Prefix
	// Services are the server's TCP and UDP ports in each state.
	Services Services
	// ECMP, when non-zero, doubles router ECMP (1 is the client's
	// neighbour) into an equal-cost diamond: a twin router, Lab.Twin,
	// joins the same two neighbours, and the left neighbour balances flows
	// over both by a hash of addresses and ports
	// (fib_multipath_hash_policy=1). Its links are 198.18.100+ECMP.0/24
	// (left) and 198.18.150+ECMP.0/24 (right), 2001:db8:64+ECMP:: and
	// 2001:db8:96+ECMP:: in hex for IPv6.
	ECMP int
	// Delay, when Delay[1] is non-zero, holds every packet the first
	// router forwards for a time drawn uniformly from Delay[0] to
	// Delay[1], packet by packet (an NFQUEUE read by the lab: this kernel
	// has no netem). Round trips through it vary as on a real path.
	Delay [2]time.Duration
}

// Node is one namespace of a lab.
type Node struct {
	Name string // client, r1, r2, ..., server
	NS   string // the namespace's name, for ip netns exec
	// Addr4 and Addr6 are the node's address on its link toward the
	// client (the client's: toward the first hop). A router sends its
	// ICMP errors from them.
	Addr4, Addr6 netip.Addr
}

// Lab is a built lab. Close removes it.
type Lab struct {
	Client  *Node
	Routers []*Node
	Server  *Node
	// Twin is the second router of an ECMP diamond, nil without one.
	Twin    *Node
	nodes   []*Node
	spec    Spec
	procs   []*exec.Cmd
	closers []io.Closer
}

// The lab's address blocks; nothing outside them is routed.
var (
	Block4 = netip.MustParsePrefix("198.18.0.0/15")
	Block6 = netip.MustParsePrefix("2001:db8::/32")
)

// Nobody answers for SilentPrefix4 and SilentPrefix6: the server
// routes them to a blackhole, dropping without an ICMP error, like a host
// that is down or firewalled.
var (
	SilentPrefix4 = netip.MustParsePrefix("198.18.255.0/24")
	SilentPrefix6 = netip.MustParsePrefix("2001:db8:ff::/64")
)

// ErrNotPermitted says the caller may not create namespaces (not root).
var ErrNotPermitted = errors.New("netlab: creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")

// New builds the lab spec describes. On error nothing is left behind.
func New(spec Spec) (lab *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotPermitted
	}
	if spec.ECMP < 0 || spec.ECMP > spec.Routers {
		return nil, fmt.Errorf("netlab: ECMP router %d does not exist (routers 1 to %d)", spec.ECMP, spec.Routers)
	}
	for _, p := range spec.ServerPrefixes {
		if !Block4.Contains(p.Addr()) && !Block6.Contains(p.Addr()) {
			return nil, fmt.Errorf("netlab: server prefix %v is outside the lab's blocks", p)
		}
	}
	removeOrphans()
	var tag [3]byte
	rand.Read(tag[:])
	// The creator's pid in the name lets a later lab remove this one if
	// its process dies without closing it (a test binary killed by its
	// -timeout, say).
	prefix := fmt.Sprintf("rk%d-%s-", os.Getpid(), hex.EncodeToString(tag[:]))
	lab = &Lab{spec: spec}
	defer func() {
		if err != nil {
			lab.Close()
			lab = nil
		}
	}()
	names := []string{"client"}
	for i := 1; i <= spec.Routers; i++ {
		names = append(names, fmt.Sprintf("r%d", i))
	}
	names = append(names, "server")
	if spec.ECMP > 0 {
		names = append(names, fmt.Sprintf("r%db", spec.ECMP))
	}
	for _, name := range names {
		n := &Node{Name: name, NS: prefix + name}
		if err := run("ip", "netns", "add", n.NS); err != nil {
			return lab, err
		}
		lab.nodes = append(lab.nodes, n)
	}
	all := lab.nodes
	if spec.ECMP > 0 {
		lab.Twin = all[len(all)-1]
		lab.nodes = all[:len(all)-1] // the chain; the twin stands beside it
	}
	lab.Client, lab.Server = lab.nodes[0], lab.nodes[len(lab.nodes)-1]
	lab.Routers = lab.nodes[1 : len(lab.nodes)-1]
	for _, n := range all {
		if err := lab.setupNode(n); err != nil {
			return lab, err
		}
	}
	for k := 0; k < len(lab.nodes)-1; k++ {
		mtu := 1500
		if spec.MTU > 0 && k == len(lab.nodes)-2 {
			mtu = spec.MTU
		}
		if err := lab.connect(lab.nodes[k], lab.nodes[k+1], k, mtu); err != nil {
			return lab, err
		}
	}
	if err := lab.route(); err != nil {
		return lab, err
	}
	if lab.Twin != nil {
		k := spec.ECMP
		if err := lab.connect(lab.nodes[k-1], lab.Twin, 100+k, 1500); err != nil {
			return lab, err
		}
		if err := lab.connect(lab.Twin, lab.nodes[k+1], 150+k, 1500); err != nil {
			return lab, err
		}
		if err := lab.routeDiamond(k); err != nil {
			return lab, err
		}
	}
	return lab, lab.applyOptions()
}

var orphanName = regexp.MustCompile(`^rk(\d+)-[0-9a-f]+-`)

// removeOrphans deletes lab namespaces whose creating process is gone.
func removeOrphans() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		m := orphanName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its creator still runs
		}
		_ = run("ip", "netns", "del", e.Name())
	}
}

// Addr4 and Addr6 of link k, host 1 (left) or 2 (right).
func linkAddr4(k, host int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(k), byte(host)}) }
func linkAddr6(k, host int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(k), 15: byte(host)})
}

func (l *Lab) setupNode(n *Node) error {
	sysctls := []string{
		"net.ipv4.ip_forward=1",
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.all.accept_dad=0",
		"net.ipv6.conf.default.accept_dad=0",
		// Tests count every ICMP error; the kernel's rate limits would
		// drop some and make them flaky.
		"net.ipv4.icmp_ratelimit=0",
		"net.ipv4.icmp_msgs_per_sec=1000000",
		// The bucket's depth: the default 50 drops errors past the
		// 50th sent within one jiffy, whatever the rate.
		"net.ipv4.icmp_msgs_burst=1000000",
		"net.ipv6.icmp.ratelimit=0",
		// Raw sockets only: tests of unprivileged users set it themselves.
		"net.ipv4.ping_group_range=1 0",
	}
	if n == l.Client {
		sysctls = sysctls[2:]
	}
	for _, s := range sysctls {
		if err := l.Run(n, "sysctl", "-q", "-w", s); err != nil {
			return err
		}
	}
	return l.Run(n, "ip", "link", "set", "lo", "up")
}

// connect joins left and right with a veth pair numbered as link k:
// 198.18.k.0/24 and 2001:db8:k::/64, left .1, right .2.
func (l *Lab) connect(left, right *Node, k, mtuBytes int) error {
	// Each end is named for the node it leads to.
	lname, rname := "to-"+right.Name, "to-"+left.Name
	if err := run("ip", "link", "add", lname, "netns", left.NS, "type", "veth", "peer", "name", rname, "netns", right.NS); err != nil {
		return err
	}
	mtu := fmt.Sprint(mtuBytes)
	for i, end := range []struct {
		n    *Node
		name string
	}{{left, lname}, {right, rname}} {
		a4, a6 := linkAddr4(k, i+1), linkAddr6(k, i+1)
		cmds := [][]string{
			{"ip", "link", "set", end.name, "mtu", mtu},
			{"ip", "addr", "add", a4.String() + "/24", "dev", end.name},
			{"ip", "-6", "addr", "add", a6.String() + "/64", "dev", end.name, "nodad"},
			{"ip", "link", "set", end.name, "up"},
		}
		for _, c := range cmds {
			if err := l.Run(end.n, c[0], c[1:]...); err != nil {
				return err
			}
		}
		if (i == 1 || end.n == l.Client) && !end.n.Addr4.IsValid() { // the side facing the client
			end.n.Addr4, end.n.Addr6 = a4, a6
		}
	}
	return l.pinNeighbours(k, left, lname, right, rname)
}

// pinNeighbours makes each end of link k know the other's MAC address
// for good. Without it the first packet across a fresh IPv6 link waits
// about a second for neighbour discovery, which tests would read as loss.
func (l *Lab) pinNeighbours(k int, left *Node, lname string, right *Node, rname string) error {
	lmac, err := l.mac(left, lname)
	if err != nil {
		return err
	}
	rmac, err := l.mac(right, rname)
	if err != nil {
		return err
	}
	pins := []struct {
		n         *Node
		dev, peer string
		mac       string
		host      int
	}{{left, lname, rname, rmac, 2}, {right, rname, lname, lmac, 1}}
	for _, p := range pins {
		for _, a := range []netip.Addr{linkAddr4(k, p.host), linkAddr6(k, p.host)} {
			if err := l.Run(p.n, "ip", "neigh", "replace", a.String(), "lladdr", p.mac, "dev", p.dev, "nud", "permanent"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Lab) mac(n *Node, dev string) (string, error) {
	out, err := output("ip", "netns", "exec", n.NS, "cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out), err
}

// route gives every node a route for the lab blocks toward the server,
// and every router routes for the links behind it toward the client.
func (l *Lab) route() error {
	last := len(l.nodes) - 1
	for i, n := range l.nodes {
		var cmds [][]string
		if i < last { // toward the server: the right neighbour's address on link i
			cmds = append(cmds,
				[]string{"ip", "route", "add", Block4.String(), "via", linkAddr4(i, 2).String()},
				[]string{"ip", "-6", "route", "add", Block6.String(), "via", linkAddr6(i, 2).String()})
		} else { // the server: everything back toward the client
			cmds = append(cmds,
				[]string{"ip", "route", "add", Block4.String(), "via", linkAddr4(i-1, 1).String()},
				[]string{"ip", "-6", "route", "add", Block6.String(), "via", linkAddr6(i-1, 1).String()})
		}
		if i > 0 && i < last { // a router: links left of its own go left
			for k := 0; k < i-1; k++ {
				cmds = append(cmds,
					[]string{"ip", "route", "add", fmt.Sprintf("198.18.%d.0/24", k), "via", linkAddr4(i-1, 1).String()},
					[]string{"ip", "-6", "route", "add", fmt.Sprintf("2001:db8:%x::/64", k), "via", linkAddr6(i-1, 1).String()})
			}
		}
		for _, c := range cmds {
			if err := l.Run(n, c[0], c[1:]...); err != nil {
				return err
			}
		}
	}
	return nil
}

// routeDiamond routes around the twin of router k: its left neighbour
// balances over router k and the twin; the twin routes like router k; and
// every node right of the diamond reaches the twin's links leftwards.
func (l *Lab) routeDiamond(k int) error {
	left, twin := l.nodes[k-1], l.Twin
	v4, v6 := func(k int) string { return fmt.Sprintf("198.18.%d.0/24", k) }, func(k int) string { return fmt.Sprintf("2001:db8:%x::/64", k) }
	type cmd struct {
		n    *Node
		args []string
	}
	cmds := []cmd{
		{left, []string{"sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_policy=1"}},
		{left, []string{"sysctl", "-q", "-w", "net.ipv6.fib_multipath_hash_policy=1"}},
		{left, []string{"ip", "route", "replace", Block4.String(),
			"nexthop", "via", linkAddr4(k-1, 2).String(), "nexthop", "via", linkAddr4(100+k, 2).String()}},
		{left, []string{"ip", "-6", "route", "replace", Block6.String(),
			"nexthop", "via", linkAddr6(k-1, 2).String(), "nexthop", "via", linkAddr6(100+k, 2).String()}},
		{twin, []string{"ip", "route", "add", Block4.String(), "via", linkAddr4(150+k, 2).String()}},
		{twin, []string{"ip", "-6", "route", "add", Block6.String(), "via", linkAddr6(150+k, 2).String()}},
	}
	for j := 0; j <= k-1; j++ { // the twin's way back: every link left of it
		cmds = append(cmds,
			cmd{twin, []string{"ip", "route", "add", v4(j), "via", linkAddr4(100+k, 1).String()}},
			cmd{twin, []string{"ip", "-6", "route", "add", v6(j), "via", linkAddr6(100+k, 1).String()}})
	}
	for i := k; i < len(l.nodes)-1; i++ { // router k and every router right of it
		n := l.nodes[i]
		back4, back6 := linkAddr4(i-1, 1).String(), linkAddr6(i-1, 1).String()
		cmds = append(cmds,
			cmd{n, []string{"ip", "route", "add", v4(100 + k), "via", back4}},
			cmd{n, []string{"ip", "-6", "route", "add", v6(100 + k), "via", back6}})
		if i > k+1 {
			cmds = append(cmds,
				cmd{n, []string{"ip", "route", "add", v4(150 + k), "via", back4}},
				cmd{n, []string{"ip", "-6", "route", "add", v6(150 + k), "via", back6}})
		}
	}
	for _, c := range cmds {
		if err := l.Run(c.n, c.args[0], c.args[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) applyOptions() error {
	for _, r := range l.spec.Silent {
		if r < 1 || r > len(l.Routers) {
			return fmt.Errorf("netlab: silent router %d does not exist (routers 1 to %d)", r, len(l.Routers))
		}
		n := l.Routers[r-1]
		if err := l.Run(n, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP"); err != nil {
			return err
		}
		if err := l.Run(n, "ip6tables", "-A", "OUTPUT", "-p", "icmpv6", "--icmpv6-type", "time-exceeded", "-j", "DROP"); err != nil {
			return err
		}
	}
	if d := l.spec.Delay; d[1] > 0 {
		if len(l.Routers) == 0 || d[0] < 0 || d[1] < d[0] {
			return fmt.Errorf("netlab: a delay needs a router and 0 <= Delay[0] <= Delay[1]")
		}
		if err := l.startDelay(l.Routers[0], d[0], d[1]); err != nil {
			return err
		}
	}
	if l.spec.Loss > 0 || l.spec.ReturnLoss > 0 {
		if err := l.setLoss(l.spec.Loss, l.spec.ReturnLoss); err != nil {
			return err
		}
	}
	for _, p := range []netip.Prefix{SilentPrefix4, SilentPrefix6} {
		if err := l.Run(l.Server, "ip", "route", "add", "blackhole", p.String()); err != nil {
			return err
		}
	}
	if err := l.startServices(); err != nil {
		return err
	}
	for _, p := range l.spec.ServerPrefixes {
		args := []string{"route", "add", "local", p.String(), "dev", "lo"}
		if p.Addr().Is6() {
			args = append([]string{"-6"}, args...)
		}
		if err := l.Run(l.Server, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// SetLoss makes the server drop each arriving packet with probability p,
// replacing any loss set before; 0 removes it.
func (l *Lab) SetLoss(p float64) error { return l.setLoss(p, 0) }

// setLoss drops each packet arriving at the server with probability in,
// and each leaving it with probability out.
func (l *Lab) setLoss(in, out float64) error {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for chain, p := range map[string]float64{"INPUT": in, "OUTPUT": out} {
			_ = l.Run(l.Server, ipt, "-F", chain)
			if p > 0 && ipt == "ip6tables" {
				// Neighbour discovery is exempt: losing it would delay and
				// drop far more than p of the traffic (ARP is not IP, so
				// iptables never sees it).
				for _, typ := range []string{"neighbour-solicitation", "neighbour-advertisement"} {
					if err := l.Run(l.Server, ipt, "-A", chain, "-p", "icmpv6", "--icmpv6-type", typ, "-j", "ACCEPT"); err != nil {
						return err
					}
				}
			}
			if p > 0 {
				if err := l.Run(l.Server, ipt, "-A", chain, "-m", "statistic", "--mode", "random",
					"--probability", fmt.Sprintf("%.4f", p), "-j", "DROP"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Command returns a command that runs in node's namespace.
func (l *Lab) Command(ctx context.Context, n *Node, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Run runs a command in node's namespace with a bounded wait and returns
// an error holding its output when it fails.
func (l *Lab) Run(n *Node, name string, args ...string) error {
	return run("ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Start starts a long-running command in node's namespace; Close kills it.
func (l *Lab) Start(n *Node, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l.procs = append(l.procs, cmd)
	return cmd, nil
}

// Close kills what Start started and removes every namespace of the lab.
func (l *Lab) Close() error {
	for _, p := range l.procs {
		if p.Process != nil {
			p.Process.Kill()
			p.Wait()
		}
	}
	l.procs = nil
	for _, c := range l.closers {
		c.Close()
	}
	l.closers = nil
	var errs []error
	for _, n := range l.Nodes() {
		if err := run("ip", "netns", "del", n.NS); err != nil {
			errs = append(errs, err)
		}
	}
	l.nodes, l.Twin = nil, nil
	return errors.Join(errs...)
}

// Nodes returns client, routers and server in path order, then the twin
// of an ECMP diamond.
func (l *Lab) Nodes() []*Node {
	if l.Twin != nil {
		return append(append([]*Node(nil), l.nodes...), l.Twin)
	}
	return l.nodes
}

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
