//go:build linux

package netlab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestChainReachesServerAndNothingElse(t *testing.T) {
	lab := ForTest(t, Spec{Routers: 2, ServerPrefixes: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}})
	if got, want := lab.Server.Addr4.String(), "198.18.2.2"; got != want {
		t.Errorf("server address %s, want %s", got, want)
	}
	if got, want := lab.Routers[1].Addr6.String(), "2001:db8:1::2"; got != want {
		t.Errorf("r2 address %s, want %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String(), "198.19.7.9"} {
		out, err := lab.Command(ctx, lab.Client, "ping", "-n", "-c", "1", "-W", "2", dst).CombinedOutput()
		if err != nil {
			t.Errorf("ping %s from the client: %v\n%s", dst, err, out)
		}
	}
	// No route out: an address outside the lab is unreachable at once,
	// without a packet leaving the client.
	out, err := lab.Command(ctx, lab.Client, "ip", "route", "get", "192.0.2.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unreachable") {
		t.Errorf("the client has a route out of the lab: %s", out)
	}
}

func TestCloseRemovesNamespaces(t *testing.T) {
	lab := ForTest(t, Spec{Routers: 1})
	ns := lab.Routers[0].NS
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), ns) {
		t.Errorf("namespace %s still there after Close: %s", ns, out)
	}
}

func TestServicesAndMTU(t *testing.T) {
	lab := ForTest(t, Spec{Routers: 1, MTU: 1280, Services: Services{
		TCP: map[int]PortState{22: Open, 23: Filtered, 24: Rejected},
		UDP: map[int]PortState{53: Open},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, srv := range []netip.Addr{lab.Server.Addr4, lab.Server.Addr6} {
		dial := func(port string) error {
			// bash's /dev/tcp connects from inside the client namespace.
			return lab.Command(ctx, lab.Client, "timeout", "2", "bash", "-c",
				"exec 3<>/dev/tcp/"+srv.String()+"/"+port).Run()
		}
		if err := dial("22"); err != nil {
			t.Errorf("%v: open port 22 refused: %v", srv, err)
		}
		for _, port := range []string{"23", "24", "25"} {
			if err := dial(port); err == nil {
				t.Errorf("%v: port %s accepted a connection", srv, port)
			}
		}
	}
	// A 1300-byte datagram with DF does not fit the server's 1280 link.
	out, err := lab.Command(ctx, lab.Client, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1272", lab.Server.Addr4.String()).CombinedOutput()
	if err == nil {
		t.Errorf("1300-byte DF ping crossed a 1280 MTU link:\n%s", out)
	}
	if !strings.Contains(string(out), "mtu = 1280") && !strings.Contains(string(out), "mtu=1280") {
		t.Errorf("no fragmentation-needed with mtu 1280:\n%s", out)
	}
}

func TestSilentPrefixAnswersNothing(t *testing.T) {
	lab := ForTest(t, Spec{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lab.Command(ctx, lab.Client, "ping", "-n", "-c", "1", "-W", "1", SilentPrefix4.Addr().Next().String()).CombinedOutput()
	if err == nil || strings.Contains(string(out), "From ") {
		t.Errorf("the silent prefix answered:\n%s", out)
	}
}

func TestECMPDiamond(t *testing.T) {
	lab := ForTest(t, Spec{Routers: 3, ECMP: 2})
	if lab.Twin == nil || lab.Twin.Addr4.String() != "198.18.102.2" {
		t.Fatalf("twin %+v", lab.Twin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Everything is reachable from the client, the twin included.
	for _, dst := range []netip.Addr{lab.Server.Addr4, lab.Server.Addr6, lab.Twin.Addr4, lab.Twin.Addr6} {
		if out, err := lab.Command(ctx, lab.Client, "ping", "-n", "-c", "1", "-W", "2", dst.String()).CombinedOutput(); err != nil {
			t.Errorf("ping %v: %v\n%s", dst, err, out)
		}
	}
	// r1 spreads UDP flows, told apart by source port, over both branches.
	for _, v := range []struct{ flag, dst string }{{"-4", lab.Server.Addr4.String()}, {"-6", lab.Server.Addr6.String()}} {
		seen := map[string]bool{}
		for sport := 33000; sport < 33064; sport++ {
			out, err := lab.Command(ctx, lab.Routers[0], "ip", v.flag, "route", "get", v.dst,
				"ipproto", "udp", "sport", strconv.Itoa(sport), "dport", "33434").CombinedOutput()
			if err != nil {
				t.Fatalf("ip route get: %v: %s", err, out)
			}
			f := strings.Fields(string(out))
			for i := range f {
				if f[i] == "via" && i+1 < len(f) {
					seen[f[i+1]] = true
				}
			}
		}
		if len(seen) != 2 {
			t.Errorf("%s: 64 flows took next hops %v, want both branches", v.flag, seen)
		}
	}
	ns := lab.Twin.NS
	lab.Close()
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), ns) {
		t.Errorf("twin namespace %s left behind", ns)
	}
}

func TestOrphanedLabIsRemoved(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip(ErrNotPermitted)
	}
	// A lab namespace named for a process that no longer exists.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := "rk" + strconv.Itoa(dead.Process.Pid) + "-abcdef-client"
	if err := exec.Command("ip", "netns", "add", name).Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ForTest(t, Spec{})
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), name) {
		t.Errorf("orphaned %s survived a new lab", name)
	}
}

// A delayed lab holds each forwarded packet between the bounds, packet
// by packet: round trips vary from 2×min to 2×max (both ways cross the
// router), plus the path's own time and the timers' lateness.
func TestDelayVariesPerPacket(t *testing.T) {
	lab := ForTest(t, Spec{Routers: 1, Delay: [2]time.Duration{2 * time.Millisecond, 8 * time.Millisecond}})
	out, err := lab.Command(t.Context(), lab.Client, "ping", "-n", "-c", "20", "-i", "0.05", lab.Server.Addr4.String()).Output()
	if err != nil {
		t.Fatalf("ping through the delay: %v\n%s", err, out)
	}
	var rtts []float64
	for _, m := range regexp.MustCompile(`time=([0-9.]+) ms`).FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		rtts = append(rtts, v)
	}
	if len(rtts) != 20 {
		t.Fatalf("%d replies of 20\n%s", len(rtts), out)
	}
	lo, hi := slices.Min(rtts), slices.Max(rtts)
	// Each way is held 2 to 8 ms; timers run late on a loaded machine
	// (the race detector's run), never early.
	if lo < 4 || hi > 16+15 || hi-lo < 2 {
		t.Errorf("RTTs from %.3f to %.3f ms; want from 4 ms, at most 16 ms and some slack, spread over 2 ms at least", lo, hi)
	}
}
