package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rawkit/rawkit/filter"
	"github.com/rawkit/rawkit/report"
)

// output prints a line per packet, writes NDJSON, or writes a pcap file.
type output struct {
	opts   Options
	lt     filter.LinkType
	text   *bufio.Writer
	json   *report.JSONWriter
	pcap   *pcapWriter
	pcapng *pcapngWriter
	file   *os.File
}

func newOutput(opts Options, stdout io.Writer, lt filter.LinkType) (*output, error) {
	o := &output{lt: lt, opts: opts}
	if opts.WriteFile != "" {
		w := stdout
		if opts.WriteFile != "-" {
			f, err := os.Create(opts.WriteFile)
			if err != nil {
				return nil, report.Usagef("-w: %v", err)
			}
			o.file, w = f, f
		}
		linktype := uint32(linkEthernet)
		switch lt {
		case filter.LinuxSLL:
			linktype = linkLinuxSLL
		case filter.RawIP:
			linktype = linkRaw
		}
		if opts.PcapNG || strings.HasSuffix(opts.WriteFile, ".pcapng") {
			p, err := newPcapngWriter(w, uint16(linktype), opts.Snaplen, opts.Filter)
			if err != nil {
				return nil, err
			}
			o.pcapng = p
			return o, nil
		}
		p, err := newPcapWriter(w, linktype, opts.Snaplen)
		if err != nil {
			return nil, err
		}
		o.pcap = p
		return o, nil
	}
	if opts.JSON {
		o.json = report.NewJSONWriter(stdout, "sniff")
		return o, nil
	}
	o.text = bufio.NewWriterSize(stdout, 64<<10)
	return o, nil
}

// network returns the ethertype and network header of a captured frame.
func (o *output) network(c captured) (uint16, []byte) {
	d := c.data
	switch o.lt {
	case filter.Ethernet:
		if len(d) < 14 {
			return 0, nil
		}
		et, off := binary.BigEndian.Uint16(d[12:]), 14
		for (et == 0x8100 || et == 0x88a8) && len(d) >= off+4 {
			et, off = binary.BigEndian.Uint16(d[off+2:]), off+4
		}
		return et, d[off:]
	case filter.LinuxSLL:
		if len(d) < 16 {
			return 0, nil
		}
		return binary.BigEndian.Uint16(d[14:]), d[16:]
	}
	if len(d) > 0 && d[0]>>4 == 6 {
		return 0x86dd, d
	}
	return 0x800, d
}

type jsonPacket struct {
	Ifname  string `json:"ifname,omitempty"`
	Dir     string `json:"dir,omitempty"`
	Len     int    `json:"len"`
	Caplen  int    `json:"caplen"`
	Src     string `json:"src,omitempty"`
	Dst     string `json:"dst,omitempty"`
	Proto   string `json:"proto"`
	Sport   int    `json:"sport,omitempty"`
	Dport   int    `json:"dport,omitempty"`
	Flags   string `json:"flags,omitempty"`
	Summary string `json:"summary"`
}

func (o *output) packet(c captured) error {
	if o.pcap != nil {
		return o.pcap.write(c.ts, c.data, c.wire)
	}
	if o.pcapng != nil {
		return o.pcapng.write(c, o.lt == filter.LinuxSLL)
	}
	et, nh := o.network(c)
	s := decode(et, nh)
	dir := ""
	if o.lt == filter.LinuxSLL {
		dir = "In"
		if c.outgoing {
			dir = "Out"
		}
	}
	if o.json != nil {
		return o.json.Write("packet", jsonPacket{Ifname: c.ifname, Dir: dir, Len: c.wire, Caplen: len(c.data),
			Src: s.src, Dst: s.dst, Proto: s.proto, Sport: s.sport, Dport: s.dport, Flags: s.flags, Summary: s.text})
	}
	ts := c.ts.Local().Format("15:04:05.000000")
	w := o.text
	w.WriteString(ts)
	if dir != "" && c.ifname != "" {
		fmt.Fprintf(w, " %s %s", c.ifname, dir)
	}
	text := s.text
	if o.opts.Verbose {
		text = verboseIP(et, nh, text)
	}
	if o.opts.LinkHeader {
		// tcpdump -e names the protocol in the link part, not again after.
		w.WriteString(" " + o.linkText(c, et))
		text = strings.TrimPrefix(strings.TrimPrefix(text, "IP6 "), "IP ")
	}
	fmt.Fprintf(w, " %s\n", text)
	switch {
	case o.opts.Hex:
		hexDump(w, nh)
	case o.opts.ASCII:
		asciiDump(w, nh)
	}
	return nil
}

var etherNames = map[uint16]string{0x800: "IPv4", 0x86dd: "IPv6", 0x806: "ARP", 0x8100: "802.1Q"}

// linkText is tcpdump -e's link-level part of a line.
func (o *output) linkText(c captured, et uint16) string {
	name := etherNames[et]
	if name == "" {
		name = "Unknown"
	}
	d := c.data
	if o.lt == filter.Ethernet && len(d) >= 14 {
		return fmt.Sprintf("%s > %s, ethertype %s (0x%04x), length %d:", mac(d[6:12]), mac(d[0:6]), name, et, c.wire)
	}
	if o.lt == filter.LinuxSLL {
		return fmt.Sprintf("ethertype %s (0x%04x), length %d:", name, et, c.wire)
	}
	return fmt.Sprintf("length %d:", c.wire)
}

func mac(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// verboseIP adds tcpdump -v's IP header fields after "IP" or "IP6".
func verboseIP(et uint16, nh []byte, text string) string {
	switch {
	case et == 0x800 && len(nh) >= 20:
		fields := fmt.Sprintf("(tos %#x, ttl %d, id %d, offset %d, proto %d, length %d)",
			nh[1], nh[8], binary.BigEndian.Uint16(nh[4:]), (binary.BigEndian.Uint16(nh[6:])&0x1fff)*8, nh[9], binary.BigEndian.Uint16(nh[2:]))
		return strings.Replace(text, "IP ", "IP "+fields+" ", 1)
	case et == 0x86dd && len(nh) >= 40:
		fields := fmt.Sprintf("(hlim %d, next-header %d, payload length %d)", nh[7], nh[6], binary.BigEndian.Uint16(nh[4:]))
		return strings.Replace(text, "IP6 ", "IP6 "+fields+" ", 1)
	}
	return text
}

// hexDump writes tcpdump -X's hex and ASCII lines.
func hexDump(w *bufio.Writer, b []byte) {
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(w, "\t0x%04x:  ", off)
		for i := 0; i < 16; i++ {
			if i < len(line) {
				fmt.Fprintf(w, "%02x", line[i])
			} else {
				w.WriteString("  ")
			}
			if i%2 == 1 {
				w.WriteByte(' ')
			}
		}
		w.WriteByte(' ')
		for _, c := range line {
			// tcpdump shows graphic characters only: a space is '.' too.
			if c == ' ' {
				c = '.'
			}
			w.WriteByte(printable(c))
		}
		w.WriteByte('\n')
	}
}

// asciiDump writes tcpdump -A's printable rendering.
func asciiDump(w *bufio.Writer, b []byte) {
	for _, c := range b {
		if c == '\n' || c == '\r' || c == '\t' {
			w.WriteByte(c)
			continue
		}
		w.WriteByte(printable(c))
	}
	w.WriteByte('\n')
}

func printable(c byte) byte {
	if c >= 0x20 && c < 0x7f {
		return c
	}
	return '.'
}

func (o *output) flush() error {
	switch {
	case o.pcap != nil:
		return o.pcap.flush()
	case o.pcapng != nil:
		return o.pcapng.flush()
	case o.json != nil:
		return o.json.Flush()
	}
	return o.text.Flush()
}

func (o *output) close(st Stats) error {
	var err error
	switch {
	case o.pcap != nil:
		err = o.pcap.flush()
	case o.pcapng != nil:
		err = o.pcapng.close(st)
	case o.json != nil:
		o.json.Write("summary", st)
		err = o.json.Flush()
	default:
		err = o.text.Flush()
	}
	if o.file != nil {
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
