package rawsock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
)

// inRuntimePoller reports whether descriptor fd is in an epoll set of
// this process (the runtime's poller is the only one), from the epoll
// descriptors' fdinfo ("tfd: N ...").
func inRuntimePoller(t *testing.T, fd int) bool {
	t.Helper()
	links, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if target, _ := os.Readlink(l); target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + filepath.Base(l))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			var tfd int
			if _, err := fmt.Sscanf(line, "tfd: %d", &tfd); err == nil && tfd == fd {
				return true
			}
		}
	}
	return false
}

// An unpolled socket is out of the runtime's poller (a polled one is in
// it), and still does what a polled one does: answers read, a read
// deadline honoured, a read waiting with no deadline ended by a deadline
// moved to the past and by Close.
func TestUnpolledSocket(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			polled := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4747})
			if !inRuntimePoller(t, polled.s.fd) {
				t.Fatal("a polled socket is not in the runtime's poller: the check is blind")
			}
			c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4848, Options: Options{Unpolled: true}})
			if inRuntimePoller(t, c.s.fd) {
				t.Fatal("an unpolled socket is in the runtime's poller")
			}

			p, _ := icmp.AppendEcho(nil, family, c.ID(), 7, []byte("unpolled"))
			if _, err := c.WriteToAddr(p, loopback(family)); err != nil {
				t.Fatal(err)
			}
			m, meta, err := readEcho(t, c, 2*time.Second)
			if err != nil || m.Seq != 7 || meta.Src != loopback(family) {
				t.Fatalf("reply: %+v from %v, %v", m, meta.Src, err)
			}

			buf := make([]byte, 1500)
			start := time.Now()
			c.SetReadDeadline(start.Add(120 * time.Millisecond))
			if _, _, err := c.ReadMsg(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past its deadline: %v", err)
			}
			if waited := time.Since(start); waited < 110*time.Millisecond || waited > time.Second {
				t.Errorf("a 120ms deadline ended the read after %v", waited)
			}

			for name, stop := range map[string]func(){
				"a deadline in the past": func() { c.SetReadDeadline(time.Unix(1, 0)) },
				"Close":                  func() { c.Close() },
			} {
				c.SetReadDeadline(time.Time{})
				done := make(chan error, 1)
				go func() {
					_, _, err := c.ReadMsg(buf)
					done <- err
				}()
				time.Sleep(20 * time.Millisecond)
				stop()
				select {
				case err := <-done:
					if err == nil {
						t.Errorf("%s: the read returned a packet", name)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("%s did not end a waiting read within 2s", name)
				}
			}
		})
	}
}
