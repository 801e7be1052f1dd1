//go:build linux

package neighbour

import (
	"net/netip"
	"testing"
)

func TestParseARPReply(t *testing.T) {
	reply := []byte{0, 1, 8, 0, 6, 4, 0, 2, 0xae, 0x7c, 0xc0, 0xf5, 0x16, 0x37, 198, 18, 0, 2,
		2, 0, 0, 0, 0, 1, 198, 18, 0, 1}
	a, ok := parseARPReply(reply)
	if !ok || a.Addr != netip.MustParseAddr("198.18.0.2") || a.HW.String() != "ae:7c:c0:f5:16:37" {
		t.Errorf("reply: %v %v", a, ok)
	}
	request := append([]byte{}, reply...)
	request[7] = 1
	if _, ok := parseARPReply(request); ok {
		t.Error("a request taken for a reply")
	}
	if _, ok := parseARPReply(reply[:27]); ok {
		t.Error("a short message taken")
	}
}

func TestParseAdvert(t *testing.T) {
	na := make([]byte, 32)
	na[0] = 136
	target := netip.MustParseAddr("2001:db8::2").As16()
	copy(na[8:24], target[:])
	na[24], na[25] = 2, 1
	copy(na[26:], []byte{0xae, 0x7c, 0xc0, 0xf5, 0x16, 0x37})
	a, ok := parseAdvert(na)
	if !ok || a.Addr != netip.MustParseAddr("2001:db8::2") || a.HW.String() != "ae:7c:c0:f5:16:37" {
		t.Errorf("advert: %v %v", a, ok)
	}
	na[0] = 135
	if _, ok := parseAdvert(na); ok {
		t.Error("a solicitation taken for an advertisement")
	}
}

// Answers from the network: never a panic, and an address only from a
// message long enough to hold one.
func FuzzAnswers(f *testing.F) {
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 2, 1, 2, 3, 4, 5, 6, 198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1})
	f.Add(append([]byte{136, 0, 0, 0, 0x60, 0, 0, 0}, make([]byte, 24)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok := parseARPReply(b); ok && (len(b) < 28 || !a.Addr.Is4()) {
			t.Fatalf("ARP reply from %d bytes: %v", len(b), a)
		}
		if a, ok := parseAdvert(b); ok && (len(b) < 24 || !a.Addr.Is6()) {
			t.Fatalf("advert from %d bytes: %v", len(b), a)
		}
	})
}
