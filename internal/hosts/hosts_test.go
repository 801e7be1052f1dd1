package hosts

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/rawkit/rawkit/report"
)

func TestLookup(t *testing.T) {
	fake := func(_ context.Context, network, host string) ([]netip.Addr, error) {
		if host != "db1" {
			return nil, errors.New("no such host")
		}
		if network == "ip6" {
			return []netip.Addr{netip.MustParseAddr("2001:db8::7")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("198.18.0.7")}, nil
	}
	tests := []struct {
		host    string
		family  int
		want    string
		wantErr bool
	}{
		{host: "198.18.0.1", want: "198.18.0.1"},
		{host: "::ffff:198.18.0.1", want: "198.18.0.1"},
		{host: "2001:db8::1", family: 6, want: "2001:db8::1"},
		{host: "198.18.0.1", family: 6, wantErr: true},
		{host: "fe80::1%eth0", wantErr: true},
		{host: "db1", want: "198.18.0.7"},
		{host: "db1", family: 6, want: "2001:db8::7"},
		{host: "nosuch", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Lookup(context.Background(), tt.host, tt.family, fake)
		if tt.wantErr {
			if err == nil || report.ExitCode(err) != report.ExitUsage {
				t.Errorf("%s/%d: %v, want a usage error", tt.host, tt.family, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%s/%d: %v %v, want %s", tt.host, tt.family, got, err, tt.want)
		}
	}
}

// A name that gives no address is said in getaddrinfo's words, as the
// classic tools print them.
func TestLookupErrorWords(t *testing.T) {
	resolve := func(_ context.Context, network, host string) ([]netip.Addr, error) {
		switch host {
		case "v4only":
			if network == "ip6" {
				return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
			}
			return []netip.Addr{netip.MustParseAddr("198.18.0.7")}, nil
		case "down":
			return nil, &net.DNSError{Err: "connect: network is unreachable", Name: host, IsTemporary: true}
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	for _, tt := range []struct {
		host   string
		family int
		want   string
	}{
		{"nosuch", 0, "nosuch: Name or service not known"},
		{"nosuch", 6, "nosuch: Name or service not known"},
		{"down", 0, "down: Temporary failure in name resolution"},
		{"v4only", 6, "v4only: Address family for hostname not supported"},
	} {
		_, err := Lookup(context.Background(), tt.host, tt.family, resolve)
		var le *LookupError
		if !errors.As(err, &le) || err.Error() != tt.want || report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%s/%d: %v, want %q (exit 2)", tt.host, tt.family, err, tt.want)
		}
	}
}
