//go:build linux

package netlab

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// PortState is what a lab server does with packets to one port.
type PortState int

const (
	// Closed: nothing listens; the kernel answers TCP with RST and UDP
	// with ICMP port unreachable.
	Closed PortState = iota
	// Open: a listener accepts TCP connections (and closes them) or
	// echoes UDP datagrams.
	Open
	// Filtered: the server drops the packets silently.
	Filtered
	// Rejected: the server answers ICMP administratively prohibited.
	Rejected
)

// Services are the ports of the server and their states; ports not
// listed are Closed.
type Services struct {
	TCP map[int]PortState
	UDP map[int]PortState
}

func (l *Lab) startServices() error {
	for proto, ports := range map[string]map[int]PortState{"tcp": l.spec.Services.TCP, "udp": l.spec.Services.UDP} {
		for port, state := range ports {
			if port < 1 || port > 65535 {
				return fmt.Errorf("netlab: %s port %d out of range", proto, port)
			}
			var err error
			switch state {
			case Open:
				err = l.listen(proto, port)
			case Filtered:
				err = l.firewall(proto, port, "DROP")
			case Rejected:
				err = l.firewall(proto, port, "REJECT")
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Lab) firewall(proto string, port int, target string) error {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		args := []string{"-I", "INPUT", "-p", proto, "--dport", strconv.Itoa(port), "-j", target}
		if target == "REJECT" {
			with := "icmp-admin-prohibited"
			if ipt == "ip6tables" {
				with = "icmp6-adm-prohibited"
			}
			args = append(args, "--reject-with", with)
		}
		if err := l.Run(l.Server, ipt, args...); err != nil {
			return err
		}
	}
	return nil
}

// listen opens a dual-stack listener in the server's namespace; Close
// closes it.
func (l *Lab) listen(proto string, port int) error {
	var c io.Closer
	err := inNamespace(l.Server.NS, func() error {
		addr := net.JoinHostPort("::", strconv.Itoa(port))
		if proto == "tcp" {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					conn.Close()
				}
			}()
			c = ln
			return nil
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
		c = pc
		return nil
	})
	if err != nil {
		return fmt.Errorf("netlab: listen %s/%d in %s: %w", proto, port, l.Server.Name, err)
	}
	l.closers = append(l.closers, c)
	return nil
}

// InNamespace runs f on an OS thread moved into node's network
// namespace. Sockets f opens stay in that namespace for their life, so a
// test can open them there and use them from anywhere.
func (l *Lab) InNamespace(n *Node, f func() error) error { return inNamespace(n.NS, f) }

func inNamespace(ns string, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return os.NewSyscallError("setns", err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the lab: keep it locked so the runtime
		// ends it with this goroutine instead of reusing it.
		return os.NewSyscallError("setns back", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
