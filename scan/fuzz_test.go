package scan

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rawkit/rawkit/rawsock"
)

// User input: whatever the flags hold, an error or a result, never a panic.
func FuzzSpecs(f *testing.F) {
	for _, s := range []string{"22,80,1000-2000", "-", "1-", "-5", "198.18.0.1-20", "2001:db8::1-ff", "198.18.0.0/30", "open:22,443", "0/4", "3/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParsePorts(s)
		ParseShard(s, func(string) string { return "1" })
		ParseExpectation(s)
		spec := TargetSpec{Args: []string{s}, Lookup: func(context.Context, string, string) ([]netip.Addr, error) { return nil, context.Canceled }}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		spec.Resolve(ctx)
	})
}

// Network input: any packet is taken or ignored, never a panic.
func FuzzHandlers(f *testing.F) {
	f.Add([]byte{0, 22, 0xaf, 0xc8, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x12, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 13, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2, 0xaf, 0xc8, 0, 22})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []Type{SYN, UDP} {
			s := testScanner(typ)
			s.handleTransport(b, rawsock.Meta{Src: target}, time.Now())
			s.handleICMP(4, b, rawsock.Meta{Src: router}, time.Now())
			s.handleICMP(6, b, rawsock.Meta{Src: router}, time.Now())
		}
	})
}
