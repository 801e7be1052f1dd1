package dropreason

import "testing"

func TestText(t *testing.T) {
	got := Text(map[string]uint64{"NEIGH_FAILED": 3, "NETFILTER_DROP": 12, "NOMEM": 3})
	if want := "12 NETFILTER_DROP, 3 NEIGH_FAILED, 3 NOMEM"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
