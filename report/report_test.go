package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummaryLikeIputils(t *testing.T) {
	var s RTTStats
	for _, us := range []int{1000, 2000, 3000, 4000, 10000} {
		s.Add(time.Duration(us) * time.Microsecond)
	}
	got := s.Summary()
	// iputils: avg = 4.0; mdev = sqrt((1+4+9+16+100)/5 - 16) = sqrt(10)
	want := Summary{Min: 1, Avg: 4, Max: 10, Mdev: math.Sqrt(10), P50: 3, P90: 10, P99: 10, Jitter: 9.0 / 4}
	if math.Abs(got.Mdev-want.Mdev) > 1e-9 {
		t.Errorf("mdev %v, want %v", got.Mdev, want.Mdev)
	}
	got.Mdev = want.Mdev
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if (&RTTStats{}).Summary() != (Summary{}) {
		t.Error("empty stats not zero")
	}
	var one RTTStats
	one.Add(1500 * time.Microsecond)
	if got, want := one.Summary(), (Summary{Min: 1.5, Avg: 1.5, Max: 1.5, P50: 1.5, P90: 1.5, P99: 1.5}); got != want {
		t.Errorf("one sample: got %+v\nwant %+v", got, want)
	}
	// Basic is the same without the percentiles.
	basic := s.Basic()
	basic.Mdev = want.Mdev
	want.P50, want.P90, want.P99 = 0, 0, 0
	if basic != want {
		t.Errorf("Basic: got %+v\nwant %+v", basic, want)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var s RTTStats
	for i := 100; i >= 1; i-- {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	sum := s.Summary()
	if sum.P50 != 50 || sum.P90 != 90 || sum.P99 != 99 {
		t.Errorf("p50 %v p90 %v p99 %v", sum.P50, sum.P90, sum.P99)
	}
}

// Samples kept in several chunks give the same exact percentiles as one
// sorted list; the last exact sample is the MaxExactSamples-th.
func TestExactPercentilesAcrossChunks(t *testing.T) {
	var s RTTStats
	n := 3*sampleChunk + 17
	all := make([]time.Duration, 0, n)
	for i := range n {
		d := time.Duration((i*7919)%n+1) * time.Microsecond // each of 1..n µs once, out of order
		s.Add(d)
		all = append(all, d)
	}
	if len(s.full) < 3 {
		t.Fatalf("%d samples in %d full chunks", n, len(s.full))
	}
	slices.Sort(all)
	sum := s.Summary()
	for _, c := range []struct {
		p   float64
		got float64
	}{{50, sum.P50}, {90, sum.P90}, {99, sum.P99}} {
		if want := Millis(percentile(all, c.p)); c.got != want {
			t.Errorf("p%v = %v, want %v", c.p, c.got, want)
		}
	}
	var e RTTStats
	for i := range MaxExactSamples {
		e.Add(time.Duration(i))
	}
	if e.overflowed {
		t.Error("overflowed at MaxExactSamples")
	}
	e.Add(0)
	if !e.overflowed {
		t.Error("exact beyond MaxExactSamples")
	}
}

func TestSummaryBeyondExactSamples(t *testing.T) {
	var s RTTStats
	// Twice the exact capacity, uniformly 1..10 ms.
	n := 2 * MaxExactSamples
	var total float64
	for i := 0; i < n; i++ {
		d := time.Millisecond + time.Duration(i%1000)*9*time.Microsecond
		s.Add(d)
		total += Millis(d)
	}
	if len(s.samples) != 0 || !s.overflowed {
		t.Fatalf("still %d exact samples after %d", len(s.samples), n)
	}
	sum := s.Summary()
	if sum.Min != 1 || math.Abs(sum.Max-9.991) > 1e-9 {
		t.Errorf("min %v max %v not exact", sum.Min, sum.Max)
	}
	for _, c := range []struct{ got, want float64 }{{sum.P50, 5.491}, {sum.P90, 9.1}, {sum.P99, 9.91}} {
		if math.Abs(c.got-c.want)/c.want > 0.015 {
			t.Errorf("percentile %v, want %v within 1.5%%", c.got, c.want)
		}
	}
	if want := total / float64(n); math.Abs(sum.Avg-want) > 1e-9 {
		t.Errorf("avg %v, want exact %v", sum.Avg, want)
	}
}

var testMetrics = []Metric{
	{Name: "loss", Kind: Percent},
	{Name: "p99", Kind: Duration},
	{Name: "received", Kind: Count},
	{Name: "reached", Kind: Flag},
}

func TestParseExpect(t *testing.T) {
	tests := []struct {
		text    string
		op      string
		value   float64
		wantErr bool
	}{
		{text: "loss<1%", op: "<", value: 1},
		{text: "loss <= 0.5", op: "<=", value: 0.5},
		{text: "p99<20ms", op: "<", value: 20},
		{text: "p99<500us", op: "<", value: 0.5},
		{text: "p99<1.5s", op: "<", value: 1500},
		{text: "p99<7", op: "<", value: 7},
		{text: "received>=3", op: ">=", value: 3},
		{text: "received=3", op: "==", value: 3},
		{text: "reached", op: "==", value: 1},
		{text: "reached==false", op: "==", value: 0},
		{text: "jitter<1ms", wantErr: true},
		{text: "loss", wantErr: true},
		{text: "loss<abc", wantErr: true},
		{text: "p99<20parsecs", wantErr: true},
		{text: "loss~3", wantErr: true},
		{text: "loss<NaN", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			e, err := ParseExpect(tt.text, testMetrics)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", e)
				}
				if ExitCode(err) != ExitUsage {
					t.Errorf("exit code %d, want %d", ExitCode(err), ExitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Op != tt.op || math.Abs(e.Value-tt.value) > 1e-9 {
				t.Errorf("got %s %v, want %s %v", e.Op, e.Value, tt.op, tt.value)
			}
		})
	}
}

func TestExpectCheck(t *testing.T) {
	e, _ := ParseExpect("loss<1%", testMetrics)
	if !e.Check(0) || e.Check(1) || e.Check(50) {
		t.Error("loss<1% judged wrong")
	}
	if msg := e.Failure(50); !strings.Contains(msg, "loss<1%") || !strings.Contains(msg, "50%") {
		t.Errorf("failure message %q does not name the assertion and value", msg)
	}
}

func TestJSONWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONWriter(&buf, "ping")
	w.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 60, time.FixedZone("x", 3600)) }
	if err := w.Write("reply", struct {
		Seq int     `json:"seq"`
		RTT float64 `json:"rtt_ms"`
	}{7, 1.5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("summary", struct{}{}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("records written before Flush: %q", buf.String())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	want := `{"v":1,"tool":"ping","type":"reply","time":"2026-01-02T02:04:05.000000060Z","seq":7,"rtt_ms":1.5}`
	if lines[0] != want {
		t.Errorf("got  %s\nwant %s", lines[0], want)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not JSON: %s: %v", l, err)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{ErrNetwork, ExitNetwork},
		{Usagef("bad"), ExitUsage},
		{fmt.Errorf("wrapped: %w", Usagef("bad")), ExitUsage},
		{fmt.Errorf("socket: %w", os.ErrPermission), ExitPrivilege},
		{errors.New("boom"), ExitRuntime},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func FuzzParseExpect(f *testing.F) {
	for _, s := range []string{"loss<1%", "p99<20ms", "reached", "received>=3", "p99<1.5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpect(s, testMetrics)
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if e.Metric.Name == "" || e.Op == "" {
			t.Fatalf("%q parsed without metric or operator: %+v", s, e)
		}
		_ = e.Failure(1)
	})
}

func TestJSONWriterKeepsAngleBrackets(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONWriter(&buf, "sniff")
	w.Write("packet", struct {
		S string `json:"summary"`
	}{"IP a > b"})
	w.Flush()
	if !strings.Contains(buf.String(), `"summary":"IP a > b"`) {
		t.Errorf("got %s", buf.String())
	}
}

// WithoutPercentiles keeps no sample, and min, avg, max, mdev and jitter
// stay exact: the same as a full RTTStats's Basic.
func TestWithoutPercentiles(t *testing.T) {
	var full, lean RTTStats
	lean.WithoutPercentiles()
	for i := range 2*sampleChunk + 5 {
		d := time.Duration((i*31)%977+1) * time.Microsecond
		full.Add(d)
		lean.Add(d)
	}
	if len(lean.samples) != 0 || len(lean.full) != 0 || len(lean.histogram) != 0 {
		t.Errorf("kept %d samples, %d chunks, %d buckets", len(lean.samples), len(lean.full), len(lean.histogram))
	}
	if got, want := lean.Summary(), full.Basic(); got != want {
		t.Errorf("Summary without percentiles: %+v, want %+v", got, want)
	}
	if lean.Count() != full.Count() {
		t.Errorf("count %d, want %d", lean.Count(), full.Count())
	}
}
