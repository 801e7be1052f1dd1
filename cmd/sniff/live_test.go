package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/netlab"
)

// Live, tcpdump and sniff capture the same traffic side by side with the
// same command line, and print the same lines: on "any" (tcpdump's
// Linux cooked v2 form: the interface and packet type padded, -e's
// ifindex and address) and on an interface, with -q, -e, -A and -vv;
// stopped by SIGINT, with tcpdump's empty last line; -v's quoted
// datagram of an ICMP error. Only the times
// differ (each socket stamps a packet it did not see stamped): they are
// masked.
func TestLiveLinesLikeTcpdump(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{80: netlab.Open}, UDP: map[int]netlab.PortState{53: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	stamp := regexp.MustCompile(`(?m)^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} `)
	traffic := func() {
		run := func(args ...string) {
			lab.Command(context.Background(), lab.Client, args[0], args[1:]...).Run()
		}
		run("ping", "-c", "2", "-i", "0.2", dst)
		// A request and its answer (HTTP), a refused connection, a
		// datagram to the DNS port too short to be DNS.
		run("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/80; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; timeout 1 cat <&3 >/dev/null", dst))
		run("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/81", dst))
		run("bash", "-c", fmt.Sprintf("printf 'x\\n' > /dev/udp/%s/53", dst))
		// ICMP errors, whose quoted datagram -v prints: port unreachable
		// from the server, time exceeded from the router.
		run("bash", "-c", fmt.Sprintf("printf 'x\\n' > /dev/udp/%s/9", dst))
		run("traceroute", "-n", "-m", "1", "-q", "1", "-w", "1", dst)
	}
	for _, args := range [][]string{
		{"-n", "-i", "any"},
		{"-n", "-e", "-i", "any"},
		{"-nq", "-i", "any"},
		{"-nqe", "-i", "any"},
		{"-n", "-q", "-e", "-i", "to-r1"},
		{"-n", "-A", "-i", "to-r1"},
		{"-nn", "-vv", "-i", "any"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var outs [2]*syncBuffer
			var waits [2]func() int
			for i, prog := range []string{"tcpdump", bin} {
				cmd := lab.Command(ctx, lab.Client, prog, append(args, "not ip6")...)
				outs[i] = &syncBuffer{}
				errb := &syncBuffer{}
				cmd.Stdout, cmd.Stderr = outs[i], errb
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				waitFor(t, errb, "listening on", prog)
				waits[i] = func() int {
					cmd.Process.Signal(os.Interrupt)
					return waitExit(t, cmd, 10*time.Second, prog)
				}
			}
			traffic()
			// tcpdump's ring hands a block over within its 1 s timeout.
			time.Sleep(1500 * time.Millisecond)
			codes := [2]int{waits[0](), waits[1]()}
			ref, ours := stamp.ReplaceAllString(outs[0].String(), "T "), stamp.ReplaceAllString(outs[1].String(), "T ")
			if strings.Count(ref, "\n") < 12 {
				t.Fatalf("tcpdump saw too little of the traffic:\n%s", ref)
			}
			if ours != ref || codes[0] != codes[1] {
				t.Errorf("exit %d, tcpdump %d; lines differ\nours:\n%s\ntcpdump:\n%s", codes[1], codes[0], ours, ref)
			}
		})
	}
}
