package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// MtrOutput selects mtr(8)'s report formats (the traceroute binary run
// as mtr): the report table (-r, -w wide), JSON (-j) or CSV (--csv).
type MtrOutput struct {
	Wide    bool // -w: names never cut, columns as wide as the longest
	JSON    bool // -j
	CSV     bool // --csv
	ShowIPs bool // -b: "name (address)"
	Size    int  // -s: the packet size mtr reports as psize (64)
	// Live, when set, draws mtr's live view on a terminal instead of a
	// report at the end.
	Live *Live
}

// mtrPrinter writes what mtr 0.95 writes at the end of a report run.
type mtrPrinter struct {
	w     *bufio.Writer
	t     *tracer
	names *namer
	m     *MtrOutput
	began time.Time
}

func (p *mtrPrinter) start()                          { p.began = time.Now() }
func (p *mtrPrinter) hop(ttl int, probes []*probeRec) {}
func (p *mtrPrinter) flush() error                    { return p.w.Flush() }

// hostName is a hop's address as mtr names it, "???" when none answered.
func (p *mtrPrinter) hostName(h *hopStats) string {
	if len(h.addrs) == 0 {
		return "???"
	}
	a := h.addrs[0]
	name := p.names.names([]netip.Addr{a})[a]
	// -b shows "name (address)"; a hop without a name (or -n) is its
	// address once, as mtr shows it.
	if base, _, ok := strings.Cut(name, " ("); ok && (!p.m.ShowIPs || base == a.String()) {
		name = base
	}
	return name
}

func (p *mtrPrinter) summary(res result) {
	host, _ := os.Hostname()
	switch {
	case p.m.JSON:
		p.json(res, host)
	case p.m.CSV:
		p.csv(res)
	default:
		p.report(res, host)
	}
}

// mtrField is one column of mtr's report: its title and the value's
// format, written at a fixed stride so that a longer value is cut by the
// next column, as mtr's own buffer does.
type mtrField struct {
	title  string
	format string
	width  int
	value  func(h *hopStats) any
}

var mtrFields = []mtrField{
	{"Loss%", " %4.1f%%", 6, func(h *hopStats) any { return h.lossPct() }},
	{"Snt", " %5d", 6, func(h *hopStats) any { return h.sent }},
	{" ", " ", 1, nil},
	{"Last", " %5.1f", 6, func(h *hopStats) any { return h.last }},
	{"Avg", " %5.1f", 6, func(h *hopStats) any { return h.avg() }},
	{"Best", " %5.1f", 6, func(h *hopStats) any { return h.best }},
	{"Wrst", " %5.1f", 6, func(h *hopStats) any { return h.worst }},
	{"StDev", " %5.1f", 6, func(h *hopStats) any { return h.stdev() }},
}

// place writes s into line at column at, cutting what was there from it
// on, as mtr's snprintf into one buffer does.
func place(line string, at int, s string) string {
	if len(line) > at {
		line = line[:at]
	}
	return line + strings.Repeat(" ", at-len(line)) + s
}

func (p *mtrPrinter) report(res result, host string) {
	width := 33
	if p.m.Wide {
		width = len(host)
		for _, h := range res.table {
			width = max(width, len(p.hostName(h)))
		}
	}
	fmt.Fprintf(p.w, "Start: %s\n", p.began.Format("2006-01-02T15:04:05-0700"))
	header := fmt.Sprintf("HOST: %-*s", width, host)
	at := width
	if p.m.Wide {
		at = len(header)
	}
	for _, f := range mtrFields {
		header = place(header, at, fmt.Sprintf("%*s", f.width, f.title))
		at += f.width
	}
	fmt.Fprintln(p.w, header)
	for _, h := range res.table {
		line := fmt.Sprintf(" %2d.|-- %-*s", h.ttl, width, p.hostName(h))
		at := width
		if p.m.Wide {
			at = len(line)
		}
		fmt.Fprintln(p.w, placeFields(line, at, h))
	}
}

// placeFields writes h's statistics into line from column at on, each
// field at its stride (the report's and the live view's columns).
func placeFields(line string, at int, h *hopStats) string {
	for _, f := range mtrFields {
		if f.value == nil {
			line = place(line, at, f.format)
		} else {
			line = place(line, at, fmt.Sprintf(f.format, f.value(h)))
		}
		at += f.width
	}
	return line
}

func (p *mtrPrinter) json(res result, host string) {
	type hub struct {
		Count int     `json:"count"`
		Host  string  `json:"host"`
		Loss  float64 `json:"Loss%"`
		Snt   int     `json:"Snt"`
		Last  float64 `json:"Last"`
		Avg   float64 `json:"Avg"`
		Best  float64 `json:"Best"`
		Wrst  float64 `json:"Wrst"`
		StDev float64 `json:"StDev"`
	}
	round := func(v float64, digits float64) float64 {
		m := 1.0
		for range int(digits) {
			m *= 10
		}
		return float64(int64(v*m+0.5)) / m
	}
	var doc struct {
		Report struct {
			Mtr struct {
				Src        string `json:"src"`
				Dst        string `json:"dst"`
				Tos        int    `json:"tos"`
				Tests      int    `json:"tests"`
				Psize      string `json:"psize"`
				Bitpattern string `json:"bitpattern"`
			} `json:"mtr"`
			Hubs []hub `json:"hubs"`
		} `json:"report"`
	}
	m := &doc.Report.Mtr
	m.Src, m.Dst, m.Tests, m.Psize, m.Bitpattern = host, p.t.opts.Target, p.t.opts.Cycles, fmt.Sprint(p.m.Size), "0x00"
	m.Tos = p.t.opts.TOS
	doc.Report.Hubs = []hub{}
	for _, h := range res.table {
		doc.Report.Hubs = append(doc.Report.Hubs, hub{Count: h.ttl, Host: p.hostName(h), Loss: round(h.lossPct(), 1), Snt: h.sent,
			Last: round(h.last, 3), Avg: round(h.avg(), 3), Best: round(h.best, 3), Wrst: round(h.worst, 3), StDev: round(h.stdev(), 3)})
	}
	b, _ := json.MarshalIndent(doc, "", "    ")
	fmt.Fprintf(p.w, "%s\n", floatZeros(b))
}

// floatZeros writes whole numbers of the float fields as mtr does
// ("0.0" where encoding/json writes "0").
func floatZeros(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		for _, key := range []string{`"Loss%": `, `"Last": `, `"Avg": `, `"Best": `, `"Wrst": `, `"StDev": `} {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), key); ok {
				v := strings.TrimSuffix(rest, ",")
				if !strings.Contains(v, ".") {
					lines[i] = strings.Replace(l, key+v, key+v+".0", 1)
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

func (p *mtrPrinter) csv(res result) {
	fmt.Fprintln(p.w, "Mtr_Version,Start_Time,Status,Host,Hop,Ip,Loss%,Snt, ,Last,Avg,Best,Wrst,StDev,")
	for _, h := range res.table {
		fmt.Fprintf(p.w, "MTR.0.95,%d,OK,%s,%d,%s,%.2f,%d,0,%.2f,%.2f,%.2f,%.2f,%.2f\n", p.began.Unix(), p.t.opts.Target, h.ttl,
			p.hostName(h), h.lossPct(), h.sent, h.last, h.avg(), h.best, h.worst, h.stdev())
	}
}
