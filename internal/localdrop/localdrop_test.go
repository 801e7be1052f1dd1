package localdrop

import "testing"

func TestParsers(t *testing.T) {
	snmp := parseSNMP([]byte("Ip: Forwarding OutDiscards OutNoRoutes\nIp: 2 7 3\nUdp: InDatagrams SndbufErrors\nUdp: 5 1\n"))
	if snmp["Ip.OutNoRoutes"] != 3 || snmp["Ip.OutDiscards"] != 7 || snmp["Udp.SndbufErrors"] != 1 {
		t.Errorf("snmp: %v", snmp)
	}
	six := parseSNMP6([]byte("Ip6OutDiscards                  \t4\nIp6OutNoRoutes \t2\n"))
	if six["Ip6OutNoRoutes"] != 2 || six["Ip6OutDiscards"] != 4 {
		t.Errorf("snmp6: %v", six)
	}
	neigh := parseNeighStat([]byte("entries  res_failed unresolved_discards\n00000008 0000001b 00000002\n00000008 00000005 00000001\n"))
	if neigh["res_failed"] != 0x1b+5 || neigh["unresolved_discards"] != 3 || neigh["entries"] != 0 {
		t.Errorf("neighbour stats: %v", neigh)
	}
	d := Snapshot{NoRoute: 5, NeighbourFailures: 2}.Sub(Snapshot{NoRoute: 3, NeighbourFailures: 4})
	if d.NoRoute != 2 || d.NeighbourFailures != 0 || d.Zero() {
		t.Errorf("delta: %+v", d)
	}
	if got := (Snapshot{NeighbourFailures: 2, NoRoute: 1}).String(); got != "2 neighbour (ARP/ND) resolutions failed, 1 packets found no route (this namespace's kernel counters during the run)" {
		t.Errorf("text: %q", got)
	}
}

// The process's own namespace has the files, and reading twice works.
func TestReadOwnNamespace(t *testing.T) {
	c := Open()
	defer c.Close()
	if c.snmp == nil {
		t.Fatal("no /proc/thread-self/net/snmp")
	}
	a, b := c.Read(), c.Read()
	if !b.Sub(a).Zero() && b.Sub(a).NoRoute > 1000 {
		t.Errorf("implausible change between two reads: %+v", b.Sub(a))
	}
}
