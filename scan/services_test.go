package scan

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestParseServicesLikeFields holds the fast parser of nmap-services to
// the plain reading (strings.Fields per line), on the installed file and
// on lines made to trip it: tabs, comments, a missing frequency, junk.
func TestParseServicesLikeFields(t *testing.T) {
	files := []string{"http\t80/tcp\t0.484143\t# World Wide Web HTTP\n" +
		"# a comment line\n" +
		"  ssh 22/tcp 0.182286\n" +
		"nofreq 7/udp\n" +
		"bad x/tcp 0.1\n" +
		"short\n" +
		"\n" +
		"tie-b 9/tcp 0.5\ntie-a 8/tcp 0.5\n" +
		"crlf 25/tcp 0.1\r\n" +
		"twice-first 1234/tcp 0.3\n" +
		"twice-last 1234/tcp 0.01\n" +
		"early 5/tcp 0.2\n" +
		"last 443/tcp 0.2"}
	if b, err := os.ReadFile("/usr/share/nmap/nmap-services"); err == nil {
		files = append(files, string(b))
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("nmap-services not installed (make deps): %v", err)
	}
	for i, f := range files {
		got, want := parseServices(f), parseServicesByFields(f)
		for _, proto := range []string{"tcp", "udp", "sctp"} {
			if len(got.of(proto)) != len(want.names[proto]) {
				t.Errorf("file %d %s: %d names, want %d", i, proto, len(got.of(proto)), len(want.names[proto]))
			}
			for port := range 65536 {
				name, ok := got.name(proto, uint16(port))
				if wname, wok := want.names[proto][uint16(port)]; name != wname || ok != wok {
					t.Errorf("file %d %s/%d: %q %v, want %q %v", i, proto, port, name, ok, wname, wok)
				}
			}
			if !slices.Equal(got.used(proto), want.byUse[proto]) {
				t.Errorf("file %d %s: the order by use differs", i, proto)
			}
		}
	}
}

type plainServiceTable struct {
	names map[string]map[uint16]string
	byUse map[string][]serviceEntry
}

// parseServicesByFields is the plain reading of nmap-services the fast
// parser must equal.
func parseServicesByFields(file string) *plainServiceTable {
	t := &plainServiceTable{names: map[string]map[uint16]string{}, byUse: map[string][]serviceEntry{}}
	for _, line := range strings.Split(file, "\n") {
		line, _, _ = strings.Cut(line, "#")
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
			if a.freq != b.freq {
				if a.freq > b.freq {
					return -1
				}
				return 1
			}
			return int(a.port) - int(b.port)
		})
	}
	return t
}

func BenchmarkParseServices(b *testing.B) {
	f, err := os.ReadFile("/usr/share/nmap/nmap-services")
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		parseServices(string(f))
	}
}
