package ping

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer written by the run and read by the test
// while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A payload under 16 bytes has no room for iputils' send time: as
// iputils, the text has no time= and no rtt line, and ipg/ewma stands
// alone with an ewma of 0. At 16 bytes the times are back.
func TestUntimedLikeIputils(t *testing.T) {
	run := func(o Options) string {
		t.Helper()
		o.Targets, o.Listen = []string{up.String()}, fakeNet{up: "up"}.listen
		var out bytes.Buffer
		if err := Run(context.Background(), o, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, size := range []int{NoPayload, 8, 15} {
		out := run(Options{Count: 3, Interval: 5 * time.Millisecond, Size: size})
		if strings.Contains(out, "time=") || strings.Contains(out, "rtt ") {
			t.Errorf("-s %d: times printed\n%s", size, out)
		}
		if !regexp.MustCompile(`\n3 packets transmitted, 3 received, 0% packet loss, time \d+ms\n\n$`).MatchString(out) {
			t.Errorf("-s %d: not iputils' untimed statistics\n%s", size, out)
		}
		flood := run(Options{Count: 20, Flood: true, Size: size})
		if !regexp.MustCompile(`\nipg/ewma \d+\.\d{3}/0\.000 ms\n$`).MatchString(flood) {
			t.Errorf("-f -s %d: not iputils' untimed ipg/ewma line\n%s", size, flood)
		}
	}
	out := run(Options{Count: 3, Interval: 5 * time.Millisecond, Size: 16})
	if strings.Count(out, " time=") != 3 || !strings.Contains(out, "\nrtt min/avg/max/mdev = ") {
		t.Errorf("-s 16: times missing\n%s", out)
	}
	// -i 0 (any interval under a millisecond) prints ipg/ewma too.
	out = run(Options{Count: 3, Interval: 10 * time.Microsecond})
	if !regexp.MustCompile(`\nrtt min/avg/max/mdev = [0-9./]+ ms, ipg/ewma [0-9.]+/[0-9.]+ ms\n$`).MatchString(out) {
		t.Errorf("-i 0: no ipg/ewma\n%s", out)
	}
}

// -A adapts to the RTTs the payload times: untimed, it keeps the
// interval, as iputils does.
func TestAdaptiveUntimedKeepsTheInterval(t *testing.T) {
	for _, tc := range []struct {
		size     int
		atLeast  time.Duration
		lessThan time.Duration
	}{
		{8, 380 * time.Millisecond, 5 * time.Second},
		{56, 0, 300 * time.Millisecond},
	} {
		begin := time.Now()
		err := Run(context.Background(), Options{Targets: []string{up.String()}, Count: 3, Adaptive: true, Interval: 200 * time.Millisecond,
			Size: tc.size, Listen: fakeNet{up: "up"}.listen}, &bytes.Buffer{}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d < tc.atLeast || d >= tc.lessThan {
			t.Errorf("-A -s %d -i 0.2 -c 3 took %v, want [%v, %v)", tc.size, d, tc.atLeast, tc.lessThan)
		}
	}
}

// A status request (SIGQUIT) prints iputils' status line on stderr at
// once, even while the loop waits out a long interval, and the run goes
// on. With an IPv4 and an IPv6 target (the channel waiter) each has a
// line.
func TestStatusRequest(t *testing.T) {
	for _, targets := range [][]string{{up.String()}, {up.String(), up6.String()}} {
		status := make(chan os.Signal, 1)
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Targets: targets, Interval: 5 * time.Second, StatusRequests: status, Listen: fakeNet{up: "up", up6: "up"}.listen}, &stdout, &stderr)
		}()
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(stdout.String(), " bytes from ") < len(targets) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		asked := time.Now()
		status <- syscall.SIGQUIT
		line := regexp.MustCompile(`\r(?:\S+ : )?1/1 packets, 0% loss, min/avg/ewma/max = [0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3} ms\n`)
		for len(line.FindAllString(stderr.String(), -1)) < len(targets) && time.Since(asked) < 3*time.Second {
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(asked)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(line.FindAllString(stderr.String(), -1)); n != len(targets) || took > time.Second {
			t.Errorf("%v: %d status lines after %v, want %d within 1s (the interval is 5s)\n%q", targets, n, took, len(targets), stderr.String())
		}
		if len(targets) > 1 && !strings.Contains(stderr.String(), "\r"+up6.String()+" : 1/1 packets") {
			t.Errorf("%v: no line named for %s\n%q", targets, up6, stderr.String())
		}
		if !strings.Contains(stdout.String(), "ping statistics") && !strings.Contains(stdout.String(), "xmt/rcv") {
			t.Errorf("%v: the run did not go on to its statistics\n%s", targets, stdout.String())
		}
	}
}

// fping -Q: every interval, the time and each target's probes settled
// (answered or given up) since the last summary, with their RTTs.
func TestFpingIntervalSummaries(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 530*time.Millisecond)
	defer cancel()
	o := Options{Targets: []string{up.String(), down.String()}, Interval: 20 * time.Millisecond, Wait: 30 * time.Millisecond,
		SplitEvery: 100 * time.Millisecond, NoStamp: true, Fping: &FpingOutput{Count: true, Quiet: true},
		Listen: fakeNet{up: "up", down: "down"}.listen}
	Run(ctx, o, &stdout, &stderr)
	blocks := strings.Split(stderr.String(), "\n[")
	stamp := regexp.MustCompile(`^\[?\d\d:\d\d:\d\d\]$`)
	upLine := regexp.MustCompile(`^198\.18\.0\.1 : xmt/rcv/%loss = (\d+)/(\d+)/0%, min/avg/max = [0-9.]+/[0-9.]+/[0-9.]+$`)
	downLine := regexp.MustCompile(`^198\.18\.0\.2 : xmt/rcv/%loss = (\d+)/0/100%$`)
	summaries := 0
	for _, b := range blocks {
		lines := strings.Split(strings.TrimSpace(b), "\n")
		if len(lines) < 3 || !stamp.MatchString(lines[0]) {
			continue
		}
		summaries++
		m := upLine.FindStringSubmatch(lines[1])
		if m == nil || m[1] != m[2] {
			t.Errorf("summary %d: %q, want the up target's answered probes", summaries, lines[1])
			continue
		}
		// 100 ms at 20 ms a probe: about 5 settled; none counted twice.
		if n, _ := strconv.Atoi(m[1]); n < 2 || n > 8 {
			t.Errorf("summary %d: %d probes since the last, want about 5", summaries, n)
		}
		if !downLine.MatchString(lines[2]) {
			t.Errorf("summary %d: %q, want the silent target's lost probes", summaries, lines[2])
		}
	}
	if summaries < 4 || summaries > 6 {
		t.Errorf("%d interval summaries in 530 ms at 100 ms, want 5\n%s", summaries, stderr.String())
	}
}

// The payload is what the original puts on the wire: iputils' counting
// bytes with the send time as a struct timeval over the first 16 (none
// when shorter), fping's zeros.
func TestPayloadLikeTheOriginals(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	echo := func(size int, noStamp bool) []byte {
		p := &pinger{opts: Options{NoStamp: noStamp}, payload: makePayload(size, nil, noStamp)}
		b, err := p.echo(nil, &target{family: 4}, &family{id: 7}, 1, at)
		if err != nil {
			t.Fatal(err)
		}
		return b[8:]
	}
	d := echo(24, false)
	if sec, usec := binary.NativeEndian.Uint64(d[0:8]), binary.NativeEndian.Uint64(d[8:16]); sec != 1700000000 || usec != 123456 {
		t.Errorf("iputils' time: %d s %d µs, want 1700000000 s 123456 µs", sec, usec)
	}
	for i := 16; i < 24; i++ {
		if d[i] != byte(i) {
			t.Errorf("iputils' byte %d is %#x, want %#x", i, d[i], i)
		}
	}
	if d := echo(8, false); !bytes.Equal(d, []byte{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("iputils -s 8: % x, want the counting bytes alone", d)
	}
	if d := echo(56, true); !bytes.Equal(d, make([]byte, 56)) {
		t.Errorf("fping: % x, want zeros", d)
	}
}
