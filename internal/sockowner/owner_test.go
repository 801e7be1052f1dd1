//go:build linux

package sockowner

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain doubles as a helper process: with SOCKOWNER_HELPER set it
// holds a UDP socket, says its port, and exits when stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("SOCKOWNER_HELPER") != "" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			os.Exit(1)
		}
		fmt.Println(c.LocalAddr().(*net.UDPAddr).Port)
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

func TestLookupOwnSockets(t *testing.T) {
	table, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	peer := netip.MustParseAddrPort("198.18.0.9:53")
	for _, f := range []Flow{
		{6, addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())},
		{6, addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())}, // the other way
		{17, addrPort(u.LocalAddr()), peer},                    // an unconnected socket
		{17, peer, addrPort(u.LocalAddr())},
	} {
		p, ok := table.Lookup(f, time.Now())
		if !ok || p.PID != os.Getpid() {
			t.Errorf("%v: %+v %v, want pid %d", f, p, ok, os.Getpid())
		}
	}
	if p, ok := table.Lookup(Flow{17, netip.MustParseAddrPort("127.0.0.1:9"), peer}, time.Now()); ok {
		t.Errorf("a port no socket holds is owned by %+v", p)
	}
}

// A process that exits while its flow is still seen is never named
// after it: the flow becomes unknown.
func TestExitedOwnerIsUnknown(t *testing.T) {
	table, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SOCKOWNER_HELPER=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("helper: %q %v %v", line, err, perr)
	}
	f := Flow{17, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), netip.MustParseAddrPort("198.18.0.9:53")}
	now := time.Now()
	p, ok := table.Lookup(f, now)
	if !ok || p.PID != cmd.Process.Pid {
		t.Fatalf("helper's flow: %+v %v, want pid %d", p, ok, cmd.Process.Pid)
	}
	stdin.Close()
	cmd.Wait()
	if p, ok := table.Lookup(f, now.Add(recheckEvery)); ok {
		t.Errorf("after its owner exited, the flow is named %+v", p)
	}
}

// bpfTable is a Table with its eBPF records, closed when t ends; without
// the privilege for them t is skipped (failed in CI).
func bpfTable(t *testing.T) *Table {
	t.Helper()
	table, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(table.Close)
	if !table.BPF() {
		if os.Getuid() != 0 && os.Getenv("CI") != "true" {
			t.Skip("needs root (CAP_BPF and CAP_PERFMON) for eBPF: " + table.Mode())
		}
		t.Fatal(table.Mode())
	}
	return table
}

// A datagram this host sent is recorded as its send returns, which can
// be well after the packet was captured when the sender loses its CPU:
// the lookup waits for the record (CI saw one come more than 3 ms late).
func TestLateRecordIsAwaited(t *testing.T) {
	table := bpfTable(t)
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	me := flowOwner{TGID: uint32(os.Getpid())}
	copy(me.Comm[:], strings.TrimSpace(string(comm)))
	record := func(f Flow) {
		if err := table.bpf.flows.Put(keyOf(f.Proto, f.Src, f.Dst), me); err != nil {
			t.Error(err)
		}
	}
	// Ports no socket holds.
	var free []netip.AddrPort
	for range 2 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		free = append(free, addrPort(u.LocalAddr()))
		u.Close()
	}
	peer := netip.MustParseAddrPort("198.18.0.9:53")
	late, never := Flow{17, free[0], peer}, Flow{17, free[1], peer}
	recorded := make(chan struct{})
	time.AfterFunc(12*time.Millisecond, func() {
		record(late)
		close(recorded)
	})
	if p, ok := table.Lookup(late, time.Now()); !ok || p.PID != os.Getpid() {
		t.Errorf("a record 12 ms late: %+v %v, want pid %d", p, ok, os.Getpid())
	}
	<-recorded // before the map is closed
	// Waited for in vain, then recorded: found from then on.
	now := time.Now()
	if p, ok := table.Lookup(never, now); ok {
		t.Fatalf("a flow never recorded is named %+v", p)
	}
	record(never)
	if p, ok := table.Lookup(never, now.Add(recheckEvery)); !ok || p.PID != os.Getpid() {
		t.Errorf("recorded after its wait: %+v %v, want pid %d", p, ok, os.Getpid())
	}
	// Listed in the socket tables as they were last read, but no process
	// holds the socket now: the kernel's record still names it.
	listed := Flow{17, netip.AddrPortFrom(free[0].Addr(), 9), peer}
	now = time.Now()
	table.sockets[sockKey{proto: 17, local: listed.Src, remote: listed.Dst}] = 1 << 31
	table.sockRead, table.procsRead = now, now
	record(listed)
	if p, ok := table.Lookup(listed, now); !ok || p.PID != os.Getpid() {
		t.Errorf("a listed socket no process holds: %+v %v, want the record's pid %d", p, ok, os.Getpid())
	}
}

// A connect's SYN is named before any answer: the capture sees it as it
// is queued to the device, when the only record could be the one made
// then. A listener whose accept queue is full leaves a connect in
// SYN_SENT, unanswered.
func TestUnansweredConnectIsNamed(t *testing.T) {
	table := bpfTable(t)
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	loopback := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(ln, loopback); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 0); err != nil { // room for one connection
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(ln)
	server := netip.AddrPortFrom(netip.AddrFrom4(loopback.Addr), uint16(sa.(*unix.SockaddrInet4).Port))
	for range 4 {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(c)
		if err := unix.Connect(c, &unix.SockaddrInet4{Addr: loopback.Addr, Port: int(server.Port())}); err != unix.EINPROGRESS && err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		info, err := unix.GetsockoptTCPInfo(c, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != 2 { // TCP_SYN_SENT
			continue
		}
		sa, _ := unix.Getsockname(c)
		local := netip.AddrPortFrom(netip.AddrFrom4(loopback.Addr), uint16(sa.(*unix.SockaddrInet4).Port))
		if p, ok := table.bpf.lookup(Flow{6, local, server}); !ok || p.PID != os.Getpid() {
			t.Errorf("an unanswered connect from %v: %+v %v, want pid %d", local, p, ok, os.Getpid())
		}
		return
	}
	t.Fatal("no connect stayed unanswered")
}
