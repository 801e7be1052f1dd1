package filter

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

// sharedTestdata is the test material in shared/, beside the repository.
func sharedTestdata(t *testing.T, sub string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "testdata", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("libpcap's test material is missing: %v", err)
		}
		t.Skipf("libpcap's test material (shared/testdata) is not here: %v", err)
	}
	return dir
}

// filterTables is libpcap's testprogs/TESTrun tables, as data.
type filterTables struct {
	Accept []struct {
		DLT     string   `json:"DLT"`
		Aliases []string `json:"aliases"`
		Name    string   `json:"name"`
		Netmask string   `json:"netmask"`
	} `json:"accept"`
	Reject []struct {
		DLT     string `json:"DLT"`
		Expr    string `json:"expr"`
		Name    string `json:"name"`
		Netmask string `json:"netmask"`
	} `json:"reject"`
	Apply []struct {
		Expr     string   `json:"expr"`
		Name     string   `json:"name"`
		Savefile string   `json:"savefile"`
		Results  []string `json:"results"`
		Netmask  string   `json:"netmask"`
	} `json:"apply"`
}

// tableCase is one expression of the tables on one link type.
type tableCase struct {
	lt     LinkType
	expr   string
	name   string
	accept bool // the table's verdict (libpcap's development branch)
}

// verdict is what one compiler made of a case.
type verdict struct {
	prog []bpf.Instruction
	err  error
}

// TestLibpcapFilterTables measures the filter goal: every
// expression of libpcap's own accept and reject tables, on the link
// types sniff reads, compiled by libpcap (the installed one, through
// tcpdump -ddd, is the oracle) and by this package. Agreement is both
// refusing, or both compiling programs that give the same verdict on
// every packet of a corpus (tcpdump's and libpcap's savefiles of that
// link type and synthetic packets). A silent disagreement (a program
// where libpcap refuses, or a different verdict on a packet) fails the
// test; coverage below the floor fails it too.
func TestLibpcapFilterTables(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump (libpcap) is needed for the differential test: make deps installs it")
		}
		t.Skip("needs tcpdump (libpcap) as the reference: apt-get install tcpdump")
	}
	dir := sharedTestdata(t, "libpcap-tests")
	raw, err := os.ReadFile(filepath.Join(dir, "filter-tables.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tables filterTables
	if err := json.Unmarshal(raw, &tables); err != nil {
		t.Fatal(err)
	}
	var cases []tableCase
	seen := map[tableCase]bool{}
	add := func(dlt, expr, name string, accept bool) {
		lt, ok := LinkTypeByName(dlt)
		if !ok {
			return // a link type sniff does not read
		}
		c := tableCase{lt: lt, expr: expr}
		if seen[c] {
			return
		}
		seen[c] = true
		c.name, c.accept = name, accept
		cases = append(cases, c)
	}
	for _, a := range tables.Accept {
		if a.Netmask != "" {
			continue // needs pcap_compile's netmask argument
		}
		for _, e := range a.Aliases {
			add(a.DLT, e, a.Name, true)
		}
	}
	for _, r := range tables.Reject {
		if r.DLT != "" && r.Netmask == "" {
			add(r.DLT, r.Expr, r.Name, false)
		}
	}
	theirs := libpcapVerdicts(t, cases)
	corpora := map[LinkType][]packet{}
	for _, c := range cases {
		if _, ok := corpora[c.lt]; !ok {
			corpora[c.lt] = tableCorpus(t, c.lt)
		}
	}

	var agreeAccept, agreeReject, refused, silent, versions int
	refusedBy := map[string][]string{}
	for i, c := range cases {
		prog, oerr := Compile(c.expr, c.lt, DefaultSnaplen)
		lib := theirs[i]
		switch {
		case (lib.err == nil) != c.accept:
			// The installed libpcap and the table's (a later one) differ:
			// either verdict is libpcap's. A program the installed one
			// refuses has nothing to be compared with.
			versions++
			if oerr == nil && lib.err == nil {
				if d := firstDifference(prog, lib.prog, corpora[c.lt]); d != "" {
					silent++
					t.Errorf("%s %q (%s): %s", c.lt, c.expr, c.name, d)
				}
			}
		case lib.err != nil && oerr != nil:
			agreeReject++
		case lib.err != nil:
			silent++
			t.Errorf("%s %q (%s): libpcap refuses it (%v), we compile it", c.lt, c.expr, c.name, lib.err)
		case oerr != nil:
			refused++
			msg := oerr.Error()
			refusedBy[msg] = append(refusedBy[msg], c.lt.String()+" "+c.expr)
		default:
			if d := firstDifference(prog, lib.prog, corpora[c.lt]); d != "" {
				silent++
				t.Errorf("%s %q (%s): %s", c.lt, c.expr, c.name, d)
			} else {
				agreeAccept++
			}
		}
	}
	if testing.Verbose() || os.Getenv("FILTER_REFUSED") != "" {
		var msgs []string
		for m := range refusedBy {
			msgs = append(msgs, m)
		}
		sort.Slice(msgs, func(i, j int) bool { return len(refusedBy[msgs[i]]) > len(refusedBy[msgs[j]]) })
		for _, m := range msgs {
			ex := refusedBy[m]
			t.Logf("refused %4d: %s  e.g. %q", len(ex), m, ex[:min(3, len(ex))])
		}
	}
	total := len(cases) - versions
	agree := agreeAccept + agreeReject
	t.Logf("libpcap's filter tables on sniff's link types: %d expressions where the installed libpcap gives the table's verdict: %d agree (%.1f %%): of the %d libpcap compiles, %d compiled alike (%.1f %%), %d refused; %d libpcap refuses, refused by both; %d silent disagreements; %d where the installed libpcap differs from the table",
		total, agree, 100*float64(agree)/float64(total), agreeAccept+refused, agreeAccept, 100*float64(agreeAccept)/float64(agreeAccept+refused), refused, agreeReject, silent, versions)
	if agree < tablesFloor {
		t.Errorf("%d expressions agree with libpcap, below the floor of %d", agree, tablesFloor)
	}
}

// tablesFloor is the agreement reached; it may only rise.
const tablesFloor = 3998

// firstDifference runs both programs on every packet, whole and cut
// short, and says where they first disagree.
func firstDifference(ours, theirs []bpf.Instruction, pkts []packet) string {
	mo, err := NewMatcher(ours)
	if err != nil {
		return fmt.Sprintf("our program is invalid: %v", err)
	}
	mt, err := NewMatcher(theirs)
	if err != nil {
		return fmt.Sprintf("libpcap's program does not run here: %v", err)
	}
	for _, p := range pkts {
		for _, caplen := range []int{len(p.b), min(len(p.b), 34)} {
			a, b := mo.Match(p.b[:caplen], len(p.b)), mt.Match(p.b[:caplen], len(p.b))
			if a != b {
				return fmt.Sprintf("on %s (%d of %d bytes captured): ours %v, libpcap %v", p.name, caplen, len(p.b), a, b)
			}
		}
	}
	return ""
}

// libpcapVerdicts compiles every case with the installed libpcap, two
// at a time.
//
// FILTER_LIBPCAP_CACHE names a file that keeps them between runs (while
// working on the compiler; the test itself never needs it).
func libpcapVerdicts(t *testing.T, cases []tableCase) []verdict {
	out := make([]verdict, len(cases))
	type cached struct {
		Prog []bpf.RawInstruction
		Err  string
	}
	cache := map[string]cached{}
	key := func(c tableCase) string { return c.lt.String() + "\x00" + c.expr }
	if name := os.Getenv("FILTER_LIBPCAP_CACHE"); name != "" {
		if b, err := os.ReadFile(name); err == nil {
			json.Unmarshal(b, &cache)
		}
		defer func() {
			for i, c := range cases {
				e := cached{}
				if out[i].err != nil {
					e.Err = out[i].err.Error()
				} else {
					e.Prog, _ = bpf.Assemble(out[i].prog)
				}
				cache[key(c)] = e
			}
			b, _ := json.Marshal(cache)
			os.WriteFile(name, b, 0o644)
		}()
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(2, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if e, ok := cache[key(cases[i])]; ok {
					if e.Err != "" {
						out[i].err = errors.New(e.Err)
					} else {
						for _, r := range e.Prog {
							out[i].prog = append(out[i].prog, r.Disassemble())
						}
					}
					continue
				}
				out[i] = libpcapCompile(cases[i].expr, cases[i].lt)
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func libpcapCompile(expr string, lt LinkType) verdict {
	// A few of the table's expressions make libpcap's optimiser run long
	// (the table marks them with a timeout): refused, as far as a user
	// waiting for tcpdump is concerned.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tcpdump", "-ddd", "-y", lt.String(), expr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return verdict{err: fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))}
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Scan() // the count
	var prog []bpf.Instruction
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			return verdict{err: fmt.Errorf("tcpdump -ddd line %q", sc.Text())}
		}
		var v [4]uint64
		for i := range f {
			v[i], _ = strconv.ParseUint(f[i], 10, 32)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}.Disassemble())
	}
	return verdict{prog: prog}
}

// tableCorpus is the packets of link type lt in tcpdump's and libpcap's
// savefiles (at most a few from each file), with the synthetic corpus.
func tableCorpus(t *testing.T, lt LinkType) []packet {
	pkts := corpus(lt)
	for _, sub := range []string{"libpcap-tests", "tcpdump-tests"} {
		files, _ := filepath.Glob(filepath.Join(sharedTestdata(t, sub), "*"))
		for _, f := range files {
			pkts = append(pkts, savefilePackets(f, lt, 40)...)
		}
	}
	return pkts
}

// savefilePackets reads up to limit packets of a classic pcap file whose
// link type is lt (pcapng and other link types give none).
func savefilePackets(name string, lt LinkType, limit int) []packet {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil
	}
	if got, ok := LinkTypeOfDLT(int(bo.Uint32(hdr[20:]) & 0x03ffffff)); !ok || got != lt {
		return nil
	}
	var out []packet
	for len(out) < limit {
		var rec [16]byte
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			break
		}
		caplen := bo.Uint32(rec[8:])
		if caplen > 262144 {
			break
		}
		b := make([]byte, caplen)
		if _, err := io.ReadFull(r, b); err != nil {
			break
		}
		out = append(out, packet{fmt.Sprintf("%s #%d", filepath.Base(name), len(out)+1), b})
	}
	return out
}
