package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rawkit/rawkit/filter"
	"github.com/rawkit/rawkit/internal/sockowner"
	"github.com/rawkit/rawkit/report"
)

// output prints a line per packet, writes NDJSON, or writes a pcap file.
type output struct {
	opts   Options
	stdout io.Writer
	// trailer is written to stdout after the last line: tcpdump's empty
	// line when a signal stopped it.
	trailer string
	// owners names the process of each TCP and UDP packet (--process,
	// --pid, --pname); nil otherwise.
	owners *sockowner.Table
	// rotation: the files written so far, the current one's size and age
	seq     int
	written int64
	opened  time.Time
	lt      filter.LinkType
	text    *bufio.Writer
	json    *report.JSONWriter
	pcap    *pcapWriter
	pcapng  *pcapngWriter
	file    *os.File
	dec     *decoder // parses packets for the text and JSON outputs
	quoted  *decoder // the datagrams ICMP errors quote, with -v
	// count numbers the packets (-#); first and prev are the stamps the
	// deltas of -ttt and -ttttt start from.
	count       int
	first, prev time.Time
	line        []byte // a text line's buffer, reused
	stampBuf    []byte // and its time stamp's
}

func newOutput(opts Options, stdout io.Writer, lt filter.LinkType) (*output, error) {
	o := &output{lt: lt, opts: opts, stdout: stdout}
	if opts.WriteFile != "" {
		if err := o.openFile(time.Now()); err != nil {
			return nil, err
		}
		if opts.Print {
			// --print: the lines too, on stdout (or stderr when the
			// file is stdout).
			w := stdout
			if opts.WriteFile == "-" {
				w = os.Stderr
			}
			o.text = bufio.NewWriterSize(w, 64<<10)
		}
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
func (o *output) network(c captured) (uint16, []byte) { return networkOf(o.lt, c.data) }

func networkOf(lt filter.LinkType, d []byte) (uint16, []byte) {
	switch lt {
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
	// Process is the local process of a TCP or UDP packet (--process);
	// ProcessUnknown marks one no process could be found for.
	Process        *sockowner.Process `json:"process,omitempty"`
	ProcessUnknown bool               `json:"process_unknown,omitempty"`
}

// fileName is the name of the seq-th file: -w's name, with a number
// after it from the second file on (tcpdump -C), or formatted as a time
// when it holds % escapes (tcpdump -G's strftime).
func (o *output) fileName(seq int, at time.Time) string {
	name := o.opts.WriteFile
	if strings.Contains(name, "%") {
		name = strftime(name, at)
	}
	rotating := o.opts.RotateSize > 0 || o.opts.RotateEvery > 0
	// As tcpdump: -C numbers its files; -G alone names them by its
	// strftime escapes only (without any, each file replaces the last).
	numbered := o.opts.RotateSize > 0
	switch {
	case !rotating || !numbered:
	case o.opts.KeepFiles > 0:
		// tcpdump -W: every file numbered, from 0, as wide as the
		// largest number, the oldest name reused.
		width := len(fmt.Sprint(o.opts.KeepFiles - 1))
		name += fmt.Sprintf("%0*d", width, seq%o.opts.KeepFiles)
	case seq > 0:
		name += fmt.Sprint(seq)
	}
	return name
}

var strftimeCodes = map[byte]string{'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05", 'y': "06"}

func strftime(s string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			if layout, ok := strftimeCodes[s[i+1]]; ok {
				b.WriteString(t.Format(layout))
				i++
				continue
			}
			if s[i+1] == 's' {
				fmt.Fprint(&b, t.Unix())
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// openFile starts the next output file.
func (o *output) openFile(at time.Time) error {
	w := o.stdout
	if o.opts.WriteFile != "-" {
		f, err := os.Create(o.fileName(o.seq, at))
		if err != nil {
			return report.Usagef("-w: %v", err)
		}
		o.file, w = f, f
	}
	o.written, o.opened = 0, at
	linktype := uint32(linkEthernet)
	switch o.lt {
	case filter.LinuxSLL:
		linktype = linkLinuxSLL
	case filter.RawIP:
		linktype = linkRaw
	}
	if o.opts.PcapNG || strings.HasSuffix(o.opts.WriteFile, ".pcapng") {
		p, err := newPcapngWriter(w, uint16(linktype), o.opts.Snaplen, o.opts.Filter)
		o.pcapng = p
		return err
	}
	p, err := newPcapWriter(w, linktype, o.opts.Snaplen)
	o.pcap = p
	return err
}

// errRotationDone ends a capture whose -G -W files are all written.
var errRotationDone = errors.New("the last -W file is written")

// rotate closes the current file and opens the next when it is due.
func (o *output) rotate(c captured, st Stats) error {
	if o.opts.WriteFile == "-" || o.opts.RotateSize <= 0 && o.opts.RotateEvery <= 0 {
		return nil
	}
	due := o.opts.RotateSize > 0 && o.written >= o.opts.RotateSize ||
		o.opts.RotateEvery > 0 && c.ts.Sub(o.opened) >= o.opts.RotateEvery
	if !due {
		return nil
	}
	if o.opts.RotateEvery > 0 && o.opts.RotateSize <= 0 && o.opts.KeepFiles > 0 && o.seq+1 >= o.opts.KeepFiles {
		// tcpdump -G with -W: the run ends once that many files are
		// written.
		return errRotationDone
	}
	if err := o.closeFile(st); err != nil {
		return err
	}
	o.seq++
	return o.openFile(c.ts)
}

func (o *output) packet(c captured) error {
	var proc *sockowner.Process
	attributed := false // a TCP or UDP packet, looked up
	if o.owners != nil && !c.opaque {
		// Decoded first: --pid and --pname keep packets out of -w
		// files too.
		o.decoder()
		s := o.dec.decodeWire(c.data, c.wire)
		proc, attributed = o.ownerOf(s)
		if o.opts.PID != 0 && (proc == nil || proc.PID != o.opts.PID) || o.opts.PName != "" && (proc == nil || proc.Comm != o.opts.PName) {
			return nil
		}
	}
	if o.pcap != nil || o.pcapng != nil {
		if o.opts.RotateSize > 0 || o.opts.RotateEvery > 0 {
			if err := o.rotate(c, Stats{}); err != nil {
				return err
			}
		}
		o.written += int64(len(c.data) + 16)
		var err error
		if o.pcap != nil {
			err = o.pcap.write(c.ts, c.data, c.wire)
		} else {
			err = o.pcapng.write(c, o.lt == filter.LinuxSLL)
		}
		if err == nil && o.opts.PacketBuffered {
			err = o.flush()
		}
		if err != nil || o.text == nil {
			return err
		}
	}
	et, nh := o.network(c)
	o.decoder()
	var s summary
	if c.opaque {
		// A link type sniff does not decode: the packet is counted and
		// shown by its length, never decoded as something else.
		s = summary{proto: "unknown", text: fmt.Sprintf("[link type %s] length %d", c.linkName, c.wire)}
		et, nh = 0, c.data
	} else {
		s = o.dec.decodeWire(c.data, c.wire)
	}
	dir := ""
	if o.lt == filter.LinuxSLL {
		dir = "In"
		if c.outgoing {
			dir = "Out"
		}
	}
	if o.json != nil {
		return o.json.Write("packet", jsonPacket{Ifname: c.ifname, Dir: dir, Len: c.wire, Caplen: len(c.data),
			Src: s.src, Dst: s.dst, Proto: s.proto, Sport: s.sport, Dport: s.dport, Flags: s.flags, Summary: s.text,
			Process: proc, ProcessUnknown: attributed && proc == nil})
	}
	w := o.text
	o.count++
	if o.opts.Number {
		fmt.Fprintf(w, "%5d  ", o.count)
	}
	// The line's parts, each followed by a space: the time (none with
	// -t), the interface and direction on "any", the process, the link
	// header with -e; then the text, which may start with a space of
	// its own (" [|arp]"), as tcpdump's printers write it.
	if o.opts.Stamps != 1 {
		o.stampBuf = o.appendStamp(o.stampBuf[:0], c.ts)
		w.Write(o.stampBuf)
		w.WriteByte(' ')
	}
	var parts []string
	// --process: the process as ptcpdump shows it, COMM.PID, after the
	// interface; "?" for a TCP or UDP packet of no known process.
	who := ""
	switch {
	case proc != nil:
		who = fmt.Sprintf("%s.%d", proc.Comm, proc.PID)
	case attributed:
		who = "?"
	}
	live := dir != "" && c.ifname != "" // a capture on "any"
	if live {
		// As tcpdump's printer of "any" (Linux cooked v2): the
		// interface and the packet type, padded to 5 and 3.
		parts = append(parts, fmt.Sprintf("%-5s", c.ifname))
		if who != "" {
			parts = append(parts, who)
		}
		parts = append(parts, fmt.Sprintf("%-3s", sllPacketType(c.data)))
	} else if who != "" {
		parts = append(parts, who)
	}
	// The text is built in a buffer kept from line to line.
	buf := o.line[:0]
	if o.opts.Verbose > 0 {
		buf = appendVerboseIP(buf, et, nh, s.text)
		buf = o.appendQuoted(buf, et, nh)
	} else {
		buf = append(buf, s.text...)
	}
	o.line = buf
	text := buf
	if o.opts.LinkHeader {
		// tcpdump -e names the protocol in the link part, not again after.
		if live {
			if t := o.sll2Text(c, et); t != "" {
				parts = append(parts, t)
			}
		} else {
			parts = append(parts, o.linkText(c, et))
		}
		for _, name := range []string{"IP6 ", "IP ", "ARP, "} {
			if rest, ok := bytes.CutPrefix(text, []byte(name)); ok {
				text = rest
				break
			}
		}
	}
	for _, p := range parts {
		w.WriteString(p)
		w.WriteByte(' ')
	}
	w.Write(text)
	w.WriteByte('\n')
	dump := nh
	// tcpdump dumps a packet its printer found cut short from the link
	// header on, as -xx does (its printer gave up before saying how long
	// the link header was).
	if o.opts.WithLink || strings.Contains(s.text, " [|") {
		dump = c.data
		if c.orig != nil {
			dump = c.orig
		}
	}
	switch {
	case o.opts.Hex:
		hexDump(w, dump, true)
	case o.opts.HexOnly:
		hexDump(w, dump, false)
	case o.opts.ASCII:
		asciiDump(w, dump)
	}
	if o.opts.LineBuffered {
		return w.Flush()
	}
	return nil
}

// invalid prints tcpdump's line for a record with impossible lengths.
func (o *output) invalid(text string) error {
	if o.text == nil {
		return nil
	}
	_, err := fmt.Fprintln(o.text, text)
	return err
}

// stamp is a line's time as tcpdump's -t options print it.
func (o *output) appendStamp(dst []byte, ts time.Time) []byte {
	if o.first.IsZero() {
		o.first, o.prev = ts, ts
	}
	prev := o.prev
	o.prev = ts
	switch o.opts.Stamps {
	case 1:
		return dst
	case 2:
		dst = strconv.AppendInt(dst, ts.Unix(), 10)
		return appendPadded(append(dst, '.'), ts.Nanosecond()/1000, 6)
	case 3:
		return append(dst, delta(ts.Sub(prev))...)
	case 4:
		return ts.Local().AppendFormat(dst, "2006-01-02 15:04:05.000000")
	case 5:
		return append(dst, delta(ts.Sub(o.first))...)
	}
	return ts.Local().AppendFormat(dst, "15:04:05.000000")
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(dst []byte, v, width int) []byte {
	var b [20]byte
	d := strconv.AppendInt(b[:0], int64(v), 10)
	for i := len(d); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// delta prints a time difference as tcpdump's -ttt and -ttttt do.
func delta(d time.Duration) string {
	sign := " " // tcpdump: a space, or the minus in its place
	if d < 0 {
		sign, d = "-", -d
	}
	us := d.Microseconds()
	// Hours wrap at a day, as tcpdump formats the difference as a time
	// of day.
	return fmt.Sprintf("%s%02d:%02d:%02d.%06d", sign, us/3600e6%24, us/60e6%60, us/1e6%60, us%1e6)
}

var etherNames = map[uint16]string{0x800: "IPv4", 0x86dd: "IPv6", 0x806: "ARP", 0x8100: "802.1Q", 0x88a8: "802.1Q-QinQ",
	0x8035: "Reverse ARP", 0x88cc: "LLDP", 0x8847: "MPLS unicast", 0x8848: "MPLS multicast", 0x8864: "PPPoE S", 0x8863: "PPPoE D"}

func etherName(et uint16) string {
	if n, ok := etherNames[et]; ok {
		return n
	}
	return "Unknown"
}

// appendQuoted appends, with -v, what tcpdump prints after an ICMPv4
// error (print-icmp.c): the datagram it quotes, on a line of its own
// after a tab, as -v prints a packet.
func (o *output) appendQuoted(dst []byte, et uint16, nh []byte) []byte {
	if et != 0x800 || len(nh) < 20 || nh[9] != 1 {
		return dst
	}
	ihl := int(nh[0]&0xf) * 4
	if ihl < 20 || len(nh) < ihl+8+20 || binary.BigEndian.Uint16(nh[6:])&0x1fff != 0 {
		return dst
	}
	switch nh[ihl] { // ICMP_ERRTYPE: unreachable, source quench, redirect, time exceeded, parameter problem
	case 3, 4, 5, 11, 12:
	default:
		return dst
	}
	inner := nh[ihl+8:]
	if n := int(binary.BigEndian.Uint16(inner[2:])); n >= 20 && n < len(inner) {
		inner = inner[:n]
	}
	if o.quoted == nil {
		o.quoted = newDecoder(filter.RawIP)
		o.quoted.absolute, o.quoted.verbose, o.quoted.quick = o.opts.AbsoluteSeq, o.opts.Verbose, o.opts.Quick
	}
	s := o.quoted.decodeWire(inner, len(inner))
	return appendVerboseIP(append(dst, "\n\t"...), 0x800, inner, s.text)
}

// sllPacketType names the packet type of a Linux cooked (v1) frame, as
// tcpdump: In, B(roadcast), M(ulticast), P (to another host), Out.
func sllPacketType(frame []byte) string {
	if len(frame) < 2 {
		return "?"
	}
	if t := binary.BigEndian.Uint16(frame); t < uint16(len(sllPacketTypes)) {
		return sllPacketTypes[t]
	}
	return "?"
}

var sllPacketTypes = []string{"In", "B", "M", "P", "Out"}

// sll2Text is tcpdump -e's link part of a live "any" packet, which
// tcpdump captures as Linux cooked v2: the interface's index, the
// address, the type and the length with v2's 20-byte header (the packet
// here has v1's 16). -q leaves the type and length out.
func (o *output) sll2Text(c captured, et uint16) string {
	d := c.data
	if len(d) < 16 {
		return ""
	}
	t := fmt.Sprintf("ifindex %d", c.ifindex)
	if binary.BigEndian.Uint16(d[4:]) == 6 {
		t += " " + mac(d[6:12])
	}
	if o.opts.Quick > 0 {
		return t
	}
	return t + fmt.Sprintf(" ethertype %s (0x%04x), length %d:", etherName(et), et, c.wire+4)
}

// etherType is an Ethernet type as tcpdump -e prints it: "ethertype
// IPv4 (0x0800)", or with -q the name alone.
func (o *output) etherType(et uint16) string {
	if o.opts.Quick > 0 {
		if n, ok := etherNames[et]; ok {
			return n
		}
		return fmt.Sprintf("Unknown Ethertype (0x%04x)", et)
	}
	return fmt.Sprintf("ethertype %s (0x%04x)", etherName(et), et)
}

// linkText is tcpdump -e's link-level part of a line, with its
// separator: ether_print's, sll_print's, null_if_print's.
func (o *output) linkText(c captured, et uint16) string {
	d := c.data
	switch {
	case o.lt == filter.Ethernet && len(d) >= 14:
		t := fmt.Sprintf("%s > %s, ", mac(d[6:12]), mac(d[0:6]))
		outer := binary.BigEndian.Uint16(d[12:])
		t += fmt.Sprintf("%s, length %d:", o.etherType(outer), c.wire)
		// VLAN tags, as tcpdump lists them after the length.
		for at := 14; (outer == 0x8100 || outer == 0x88a8) && at+4 <= len(d); at += 4 {
			tci := binary.BigEndian.Uint16(d[at:])
			outer = binary.BigEndian.Uint16(d[at+2:])
			t += fmt.Sprintf(" vlan %d, p %d,", tci&0xfff, tci>>13)
			if tci&0x1000 != 0 {
				t += " DEI,"
			}
			t += " " + o.etherType(outer) + ","
		}
		return t
	case o.lt == filter.LinuxSLL && len(d) >= 16:
		t := fmt.Sprintf("%3s ", sllPacketType(d))
		if binary.BigEndian.Uint16(d[4:]) == 6 {
			t += mac(d[6:12]) + " "
		}
		if o.opts.Quick > 0 {
			return strings.TrimSuffix(t, " ") // -q: sll_print says no more
		}
		return t + fmt.Sprintf("ethertype %s (0x%04x), length %d:", etherName(et), et, c.wire)
	case len(c.orig) >= 4 && (strings.HasPrefix(c.linkName, "NULL") || strings.HasPrefix(c.linkName, "LOOP")):
		// The BSD loopback's address family: host order for NULL,
		// network order for LOOP.
		af := uint32(c.orig[0]) | uint32(c.orig[1])<<8 | uint32(c.orig[2])<<16 | uint32(c.orig[3])<<24
		if strings.HasPrefix(c.linkName, "LOOP") || af > 0xffff {
			af = binary.BigEndian.Uint32(c.orig)
		}
		name := map[uint32]string{2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6", 7: "OSI", 23: "IPX"}[af]
		switch {
		case o.opts.Quick > 0 && name == "":
			return fmt.Sprintf("Unknown AF %d, length %d:", af, c.wire+4)
		case o.opts.Quick > 0:
			return fmt.Sprintf("%s, length %d:", name, c.wire+4)
		case name == "":
			name = "Unknown"
		}
		return fmt.Sprintf("AF %s (%d), length %d:", name, af, c.wire+4)
	case strings.HasPrefix(c.linkName, "RAW") || strings.HasPrefix(c.linkName, "IPV4") || strings.HasPrefix(c.linkName, "IPV6"):
		return "ip:" // raw_if_print's
	}
	return fmt.Sprintf("length %d:", c.wire)
}

func mac(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// hexDump writes tcpdump -X's hex and ASCII lines, or -x's hex alone.
func hexDump(w *bufio.Writer, b []byte, ascii bool) {
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(w, "\t0x%04x:  ", off)
		if !ascii {
			// -x: the words present, a space between them.
			for i := 0; i < len(line); i += 2 {
				if i > 0 {
					w.WriteByte(' ')
				}
				fmt.Fprintf(w, "%x", line[i:min(i+2, len(line))])
			}
			w.WriteByte('\n')
			continue
		}
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

// asciiDump writes tcpdump -A's printable rendering: a CR before an LF
// is left out (lines end as on Unix), any other is a '.'.
func asciiDump(w *bufio.Writer, b []byte) {
	for i, c := range b {
		switch {
		case c == '\r':
			if i+1 == len(b) || b[i+1] != '\n' {
				w.WriteByte('.')
			}
		case c == '\n' || c == '\t' || c == ' ':
			w.WriteByte(c)
		default:
			w.WriteByte(printable(c))
		}
	}
	w.WriteByte('\n')
}

func printable(c byte) byte {
	if c >= 0x20 && c < 0x7f {
		return c
	}
	return '.'
}

// filesOnly reports an output of capture files alone: no lines, no
// JSON, no processes to look up.
func (o *output) filesOnly() bool {
	return (o.pcap != nil || o.pcapng != nil) && o.text == nil && o.json == nil && o.owners == nil
}

func (o *output) flush() error {
	if o.text != nil && (o.pcap != nil || o.pcapng != nil) {
		if err := o.text.Flush(); err != nil {
			return err
		}
	}
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

// closeFile finishes the current output file.
func (o *output) closeFile(st Stats) error {
	var err error
	if o.pcap != nil {
		err = o.pcap.flush()
	} else if o.pcapng != nil {
		err = o.pcapng.close(st)
	}
	o.pcap, o.pcapng = nil, nil
	if o.file != nil {
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
		o.file = nil
	}
	return err
}

func (o *output) close(st Stats) error {
	if o.trailer != "" {
		if o.text != nil {
			o.text.WriteString(o.trailer)
		} else {
			io.WriteString(o.stdout, o.trailer)
		}
	}
	if o.pcap != nil || o.pcapng != nil {
		if o.text != nil {
			o.text.Flush()
		}
		return o.closeFile(st)
	}
	var err error
	switch {
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

func (o *output) decoder() {
	if o.dec == nil {
		o.dec = newDecoder(o.lt)
		o.dec.absolute = o.opts.AbsoluteSeq
		o.dec.verbose = o.opts.Verbose
		o.dec.quick = o.opts.Quick
	}
}

// ownerOf looks a decoded packet's flow up: its process, and whether it
// was a TCP or UDP packet at all.
func (o *output) ownerOf(s summary) (*sockowner.Process, bool) {
	var proto uint8
	switch s.proto {
	case "tcp":
		proto = 6
	case "udp":
		proto = 17
	default:
		return nil, false
	}
	src, err1 := netip.ParseAddr(s.src)
	dst, err2 := netip.ParseAddr(s.dst)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	f := sockowner.Flow{Proto: proto, Src: netip.AddrPortFrom(src, uint16(s.sport)), Dst: netip.AddrPortFrom(dst, uint16(s.dport))}
	p, _ := o.owners.Lookup(f, time.Now())
	return p, true
}
