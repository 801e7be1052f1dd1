package scan

import (
	"cmp"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// nmapServices is nmap's own table of port names and how often each port
// was found open (nmap-services(5)), when nmap is installed: with it the
// SERVICE column, -F and --top-ports are nmap's exactly. Without it the
// embedded list serves.
var nmapServices = sync.OnceValue(func() *serviceTable {
	for _, path := range []string{"/usr/share/nmap/nmap-services", "/usr/local/share/nmap/nmap-services"} {
		if b, err := readOnly(path); err == nil && len(b) > 0 {
			// The names are substrings of the file, mapped or read once
			// and never written: no copy of its megabyte.
			t := parseServices(unsafe.String(&b[0], len(b)))
			t.dir = filepath.Dir(path)
			return t
		}
	}
	return nil
})

type serviceEntry struct {
	port uint16
	name string
	freq float64
}

// serviceProtos are the protocols nmap-services names.
var serviceProtos = [...]string{"tcp", "udp", "sctp"}

type serviceTable struct {
	dir string // where it was read: nmap's "Read data files from"
	// entries are, per protocol (serviceProtos), its ports in order,
	// each with the name of its last line, for a binary search by port:
	// read from the file when the protocol is first asked for (a TCP
	// scan needs none of the 19,000 UDP lines).
	entries [len(serviceProtos)]func() []rawEntry
	// lines are a protocol's lines in file order; byUse, their ports
	// most often open first.
	lines [len(serviceProtos)]func() []rawEntry
	byUse [len(serviceProtos)]func() []serviceEntry
}

type rawEntry struct {
	port       uint16
	name, freq string
}

// parseServices readies nmap-services ("name port/proto frequency #
// comment") for reading. It is on the way of every scan's output, so it
// is written for speed: a protocol's lines are read when it is first
// asked for, names are substrings of the file, no map is built, and the
// frequencies are parsed and sorted only when an order by use is asked
// for (nmap's 27,000 lines in about 2 ms, where strings.Fields, maps, a
// stable sort and ParseFloat on every line took 11 ms: most of a
// one-port scan).
func parseServices(file string) *serviceTable {
	t := &serviceTable{}
	for slot, proto := range serviceProtos {
		t.lines[slot] = sync.OnceValue(func() []rawEntry {
			// Sized for nmap's own table (8,366 TCP and 19,022 UDP
			// lines).
			entries := make([]rawEntry, 0, [len(serviceProtos)]int{8400, 19100, 64}[slot])
			for line := range strings.Lines(file) {
				if i := strings.IndexByte(line, '#'); i >= 0 {
					line = line[:i]
				}
				name, rest, ok := cutField(line)
				if !ok {
					continue
				}
				spec, rest, ok := cutField(rest)
				if !ok {
					continue
				}
				portText, p, ok := strings.Cut(spec, "/")
				if !ok || p != proto {
					continue
				}
				port, err := strconv.ParseUint(portText, 10, 16)
				if err != nil {
					continue
				}
				freq, _, _ := cutField(rest)
				entries = append(entries, rawEntry{uint16(port), name, freq})
			}
			return entries
		})
		t.entries[slot] = sync.OnceValue(func() []rawEntry { return byPort(t.lines[slot]()) })
		t.byUse[slot] = sync.OnceValue(func() []serviceEntry {
			raw := t.lines[slot]()
			list := make([]serviceEntry, len(raw))
			for i, e := range raw {
				f, _ := strconv.ParseFloat(e.freq, 64)
				list[i] = serviceEntry{e.port, e.name, f}
			}
			// (frequency, port) orders entries without a tie.
			slices.SortFunc(list, func(a, b serviceEntry) int {
				return cmp.Or(cmp.Compare(b.freq, a.freq), cmp.Compare(a.port, b.port))
			})
			return list
		})
	}
	return t
}

// of is proto's entries by port, nil for a protocol the file does not
// name.
func (t *serviceTable) of(proto string) []rawEntry {
	if slot := slices.Index(serviceProtos[:], proto); slot >= 0 {
		return t.entries[slot]()
	}
	return nil
}

// used is proto's entries, the most often open first.
func (t *serviceTable) used(proto string) []serviceEntry {
	if slot := slices.Index(serviceProtos[:], proto); slot >= 0 {
		return t.byUse[slot]()
	}
	return nil
}

// byPort is entries sorted by port (the file's order already: then the
// sort is one pass), one a port: its last line, as a map filled in file
// order would keep.
func byPort(entries []rawEntry) []rawEntry {
	increasing := func(a, b rawEntry) int { return cmp.Compare(a.port, b.port) }
	if slices.IsSortedFunc(entries, increasing) {
		unique := true
		for i := 1; i < len(entries) && unique; i++ {
			unique = entries[i].port != entries[i-1].port
		}
		if unique {
			return entries // shared, read only
		}
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, increasing)
	// Stable keeps a port's lines in file order; the last one names it.
	out := sorted[:0]
	for i, e := range sorted {
		if i+1 < len(sorted) && sorted[i+1].port == e.port {
			continue
		}
		out = append(out, e)
	}
	return out
}

// name is the name of port in entries sorted by byPort.
func (t *serviceTable) name(proto string, port uint16) (string, bool) {
	list := t.of(proto)
	i, ok := slices.BinarySearchFunc(list, port, func(e rawEntry, p uint16) int { return cmp.Compare(e.port, p) })
	if !ok {
		return "", false
	}
	return list[i].name, true
}

// cutField is s's first field (separated by spaces or tabs) and what
// follows it; ok is false when s has none.
func cutField(s string) (field, rest string, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], s[j:], j > i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// ServiceName is the name nmap gives port of proto ("tcp", "udp"):
// nmap's table when installed, else the embedded one; "unknown" if none.
func ServiceName(proto string, port uint16) string {
	if t := nmapServices(); t != nil {
		if name, ok := t.name(proto, port); ok {
			return name
		}
		return "unknown"
	}
	return embeddedService(port)
}

// topFromNmap is the n most often open ports of proto by nmap's table,
// or nil without it.
func topFromNmap(proto string, n int) []uint16 {
	t := nmapServices()
	if t == nil {
		return nil
	}
	var out []uint16
	for _, e := range t.used(proto) {
		if len(out) == n || e.freq == 0 {
			break
		}
		out = append(out, e.port)
	}
	return out
}

// macOf is the link-layer address of a, when a is a neighbour on an
// attached link and the kernel's ARP table knows it (/proc/net/arp, as
// the scan has just talked to it), or as its ARP or ND answer gave it:
// nmap's "MAC Address:" line. IPv6 neighbours found by IP probes are not
// looked up.
func (s *scanner) macOf(a netip.Addr) (string, bool) {
	if s.discMAC == nil {
		// Made once: a report asks for every host.
		s.discMAC = map[netip.Addr]string{}
		for i, h := range s.disc {
			if h.mac != "" {
				s.discMAC[s.allTargets[i]] = h.mac
			}
		}
	}
	if mac, ok := s.discMAC[a]; ok {
		return mac, true // from the ARP or ND answer
	}
	if !a.Is4() {
		return "", false
	}
	if s.arp == nil {
		// Read once, after the scan: a scan of a /16 asks for every host.
		s.arp = arpTable()
	}
	mac, ok := s.arp[a]
	return mac, ok
}

// arpTable is the kernel's complete IPv4 neighbour entries (flag 0x2),
// address to upper-case MAC.
func arpTable() map[netip.Addr]string {
	m := map[netip.Addr]string{}
	b, err := os.ReadFile("/proc/net/arp")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// IP, HW type, flags, HW address.
		if len(f) < 4 || f[2] == "0x0" || f[3] == "00:00:00:00:00:00" {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil {
			m[a] = strings.ToUpper(f[3])
		}
	}
	return m
}

// macVendors is nmap's table of OUI prefixes, when nmap is installed.
var macVendors = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile("/usr/share/nmap/nmap-mac-prefixes")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		prefix, vendor, ok := strings.Cut(line, " ")
		if ok && len(prefix) == 6 && !strings.HasPrefix(prefix, "#") {
			m[strings.ToUpper(prefix)] = vendor
		}
	}
	return m
})

// macVendor names the maker of a MAC address as nmap does, "Unknown"
// when its table has no entry.
func macVendor(mac string) string {
	if v, ok := macVendors()[strings.ReplaceAll(mac, ":", "")[:6]]; ok {
		return v
	}
	return "Unknown"
}
