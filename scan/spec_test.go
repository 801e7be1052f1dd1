package scan

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rawkit/rawkit/report"
)

func TestTargets(t *testing.T) {
	tests := []struct {
		args, exclude []string
		broadcast     bool
		want          []string
		wantErr       bool
	}{
		{args: []string{"198.18.0.1"}, want: []string{"198.18.0.1"}},
		{args: []string{"198.18.0.1-3"}, want: []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{args: []string{"198.18.0.254-198.18.1.1"}, want: []string{"198.18.0.254", "198.18.0.255", "198.18.1.0", "198.18.1.1"}},
		{args: []string{"198.18.0.0/30"}, want: []string{"198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{args: []string{"198.18.0.0/30"}, broadcast: true, want: []string{"198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{args: []string{"198.18.0.0/31"}, want: []string{"198.18.0.0", "198.18.0.1"}},
		{args: []string{"198.18.0.0/29"}, exclude: []string{"198.18.0.2,198.18.0.4-5"}, want: []string{"198.18.0.0", "198.18.0.1", "198.18.0.3", "198.18.0.6", "198.18.0.7"}},
		{args: []string{"2001:db8::1-3"}, want: []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}},
		{args: []string{"198.18.0.1", "198.18.0.1"}, want: []string{"198.18.0.1"}},
		// Overlapping arguments: each address once, where it first came.
		{args: []string{"198.18.0.2", "198.18.0.0/30"}, want: []string{"198.18.0.2", "198.18.0.0", "198.18.0.1", "198.18.0.3"}},
		{args: []string{"198.18.0.0/30", "198.18.0.2-5"}, want: []string{"198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"}},
		{args: []string{"198.18.0.4-5", "198.18.0.0/30", "198.18.0.5"}, want: []string{"198.18.0.4", "198.18.0.5", "198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{args: []string{"224.0.0.1"}, wantErr: true},
		{args: []string{"255.255.255.255"}, wantErr: true},
		{args: []string{"224.0.0.1"}, broadcast: true, want: []string{"224.0.0.1"}},
		{args: []string{"198.18.0.5-2"}, wantErr: true},
		{args: []string{"198.18.0.1-2001:db8::1"}, wantErr: true},
		{args: []string{"198.18.0.0/33"}, wantErr: true},
		{args: []string{"198.18.0.0/8"}, wantErr: true}, // more than MaxTargets
		{args: []string{"no.such.host.invalid"}, wantErr: true},
	}
	for _, tt := range tests {
		spec := TargetSpec{Args: tt.args, Exclude: tt.exclude, AllowBroadcast: tt.broadcast,
			Lookup: func(context.Context, string, string) ([]netip.Addr, error) { return nil, context.DeadlineExceeded }}
		got, err := spec.Resolve(context.Background())
		if tt.wantErr {
			if err == nil || report.ExitCode(err) != report.ExitUsage {
				t.Errorf("%v: %v %v, want a usage error", tt.args, got, err)
			}
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if err != nil || !slices.Equal(s, tt.want) {
			t.Errorf("%v excluding %v: %v %v, want %v", tt.args, tt.exclude, s, err, tt.want)
		}
	}
	// Past 64 arguments duplicates are still found (-iL lists).
	var many []string
	for i := range 70 {
		many = append(many, fmt.Sprintf("198.18.1.%d", i))
	}
	many = append(many, "198.18.1.0", "198.18.1.69")
	if got, err := (TargetSpec{Args: many}).Resolve(context.Background()); err != nil || len(got) != 70 {
		t.Errorf("70 addresses, two of them again: %d targets, %v", len(got), err)
	}
	spec := TargetSpec{Args: []string{"198.16.0.0/14"}, AllowLarge: true}
	if got, err := spec.Resolve(context.Background()); err != nil || len(got) != 1<<18 {
		t.Errorf("--allow-large /14: %d targets, %v", len(got), err)
	}
}

func TestPorts(t *testing.T) {
	got, err := ParsePorts("22,80,1000-1003,22")
	if err != nil || FormatPorts(got) != "22,80,1000-1003" || len(got) != 6 {
		t.Errorf("%v %v", got, err)
	}
	if all, err := ParsePorts("-"); err != nil || len(all) != 65535 {
		t.Errorf("all ports: %d %v", len(all), err)
	}
	for _, bad := range []string{"0", "65536", "5-3", "x", "", "1-2-3"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	top, err := TopPorts("tcp", 1000)
	if err != nil || len(top) != 1000 || top[0] != 80 || !slices.Contains(top, 22) {
		t.Errorf("top 1000: %d ports, first %v, %v", len(top), top[:3], err)
	}
	seen := map[uint16]bool{}
	for _, p := range top {
		if seen[p] {
			t.Fatalf("port %d listed twice", p)
		}
		seen[p] = true
	}
}

func TestExpectations(t *testing.T) {
	e, err := ParseExpectation("open:22,443")
	if err != nil || e.State != Open || !slices.Equal(e.Ports, []uint16{22, 443}) {
		t.Errorf("%+v %v", e, err)
	}
	if e, err := ParseExpectation("open>=1"); err != nil || e.Metric == nil {
		t.Errorf("%+v %v", e, err)
	}
	for _, bad := range []string{"shut:22", "open:", "open:x", "bogus>1"} {
		if _, err := ParseExpectation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	none := func(string) string { return "" }
	if _, err := ParseShard("3/2", none); err == nil || !strings.Contains(err.Error(), "i/n") {
		t.Errorf("shard 3/2: %v", err)
	}
}

// --shard n takes its index from the scheduler's environment.
func TestShardFromScheduler(t *testing.T) {
	for _, tc := range []struct {
		spec string
		env  map[string]string
		want Shard
		ok   bool
	}{
		{"1/4", nil, Shard{1, 4}, true},
		{"4", map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{3, 4}, true},
		{"4", map[string]string{"NOMAD_ALLOC_INDEX": "2"}, Shard{2, 4}, true},
		{"4", map[string]string{"JOB_COMPLETION_INDEX": "0", "NOMAD_ALLOC_INDEX": "2"}, Shard{0, 4}, true},
		{"4", map[string]string{"JOB_COMPLETION_INDEX": "4"}, Shard{}, false}, // beyond the count
		{"4", map[string]string{"JOB_COMPLETION_INDEX": "x"}, Shard{}, false},
		{"4", nil, Shard{}, false}, // no scheduler: say so
		{"0", map[string]string{"JOB_COMPLETION_INDEX": "0"}, Shard{}, false},
	} {
		got, err := ParseShard(tc.spec, func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("--shard %s with %v: %v, %v", tc.spec, tc.env, got, err)
		}
		if err != nil && report.ExitCode(err) != report.ExitUsage {
			t.Errorf("--shard %s: exit %d", tc.spec, report.ExitCode(err))
		}
	}
}

func TestCookieRejectsOthers(t *testing.T) {
	s := &scanner{key: 12345}
	a := netip.MustParseAddr("198.18.1.2")
	c := s.cookie(a, 22)
	if c == s.cookie(a, 23) || c == s.cookie(netip.MustParseAddr("198.18.1.3"), 22) || c == (&scanner{key: 54321}).cookie(a, 22) {
		t.Error("cookie collides across port, address or key")
	}
	if c != s.cookie(netip.MustParseAddr("::ffff:198.18.1.2").Unmap(), 22) {
		t.Error("cookie differs for the same address")
	}
}
