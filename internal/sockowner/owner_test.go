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
