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
	lt     filter.LinkType
	text   *bufio.Writer
	json   *report.JSONWriter
	pcap   *pcapWriter
	pcapng *pcapngWriter
	file   *os.File
}

func newOutput(opts Options, stdout io.Writer, lt filter.LinkType) (*output, error) {
	o := &output{lt: lt}
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
	if dir != "" && c.ifname != "" {
		_, err := fmt.Fprintf(o.text, "%s %s %s %s\n", ts, c.ifname, dir, s.text)
		return err
	}
	_, err := fmt.Fprintf(o.text, "%s %s\n", ts, s.text)
	return err
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
