package scan

import (
	"bufio"
	"cmp"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// nmapServices is nmap's own table of port names and how often each port
// was found open (nmap-services(5)), when nmap is installed: with it the
// SERVICE column, -F and --top-ports are nmap's exactly. Without it the
// embedded list serves.
var nmapServices = sync.OnceValue(func() *serviceTable {
	for _, path := range []string{"/usr/share/nmap/nmap-services", "/usr/local/share/nmap/nmap-services"} {
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			t := parseServices(f)
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

type serviceTable struct {
	dir   string                       // where it was read: nmap's "Read data files from"
	names map[string]map[uint16]string // proto -> port -> name
	byUse map[string][]serviceEntry    // proto -> entries, most often open first
}

// parseServices reads nmap-services: "name port/proto frequency # comment".
func parseServices(f *os.File) *serviceTable {
	t := &serviceTable{names: map[string]map[uint16]string{}, byUse: map[string][]serviceEntry{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		portText, proto, ok := strings.Cut(fields[1], "/")
		port, err := strconv.ParseUint(portText, 10, 16)
		if !ok || err != nil {
			continue
		}
		freq := 0.0
		if len(fields) > 2 {
			freq, _ = strconv.ParseFloat(fields[2], 64)
		}
		if t.names[proto] == nil {
			t.names[proto] = map[uint16]string{}
		}
		t.names[proto][uint16(port)] = fields[0]
		t.byUse[proto] = append(t.byUse[proto], serviceEntry{uint16(port), fields[0], freq})
	}
	for _, list := range t.byUse {
		slices.SortStableFunc(list, func(a, b serviceEntry) int {
			return cmp.Or(cmp.Compare(b.freq, a.freq), cmp.Compare(a.port, b.port))
		})
	}
	return t
}

// ServiceName is the name nmap gives port of proto ("tcp", "udp"):
// nmap's table when installed, else the embedded one; "unknown" if none.
func ServiceName(proto string, port uint16) string {
	if t := nmapServices(); t != nil {
		if name, ok := t.names[proto][port]; ok {
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
	for _, e := range t.byUse[proto] {
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
	for i, h := range s.disc {
		if h.mac != "" && s.allTargets[i] == a {
			return h.mac, true // from the ARP or ND answer
		}
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
