package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcapng (draft-ietf-opsawg-pcapng): block types and option codes used.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 1
	blockSPB = 3
	blockISB = 5
	blockEPB = 6

	byteOrderMagic = 0x1A2B3C4D

	optEnd       = 0
	optComment   = 1
	shbUserAppl  = 4
	ifName       = 2
	ifTsresol    = 9
	ifFilter     = 11
	epbFlags     = 2
	isbStartTime = 2
	isbIfrecv    = 4
	isbIfdrop    = 5
	isbFilterAcc = 6
	isbOsdrop    = 7
)

// pcapngWriter writes one section: an interface description per interface
// as packets from it first come (with its name and the filter), packets
// with nanosecond timestamps and their direction, and at the end the
// capture's statistics.
type pcapngWriter struct {
	w        *bufio.Writer
	linktype uint16
	snaplen  uint32
	filter   string
	ifaces   map[string]uint32
	order    []string
	start    time.Time
}

func newPcapngWriter(w io.Writer, linktype uint16, snaplen int, filter string) (*pcapngWriter, error) {
	p := &pcapngWriter{w: bufio.NewWriterSize(w, 1<<20), linktype: linktype, snaplen: uint32(snaplen),
		filter: filter, ifaces: map[string]uint32{}, start: time.Now()}
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, byteOrderMagic)
	body = binary.LittleEndian.AppendUint16(body, 1) // version 1.0
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0)) // section length unknown
	body = appendOpt(body, shbUserAppl, []byte("rawkit sniff"))
	body = appendOpt(body, optEnd, nil)
	return p, p.block(blockSHB, body)
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (p *pcapngWriter) block(typ uint32, body []byte) error {
	n := uint32(12 + len(body))
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], n)
	if _, err := p.w.Write(h[:]); err != nil {
		return err
	}
	if _, err := p.w.Write(body); err != nil {
		return err
	}
	_, err := p.w.Write(h[4:8])
	return err
}

// iface returns the interface id of name, describing it first if new.
func (p *pcapngWriter) iface(name string) (uint32, error) {
	if id, ok := p.ifaces[name]; ok {
		return id, nil
	}
	id := uint32(len(p.order))
	p.ifaces[name] = id
	p.order = append(p.order, name)
	var body []byte
	body = binary.LittleEndian.AppendUint16(body, p.linktype)
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint32(body, p.snaplen)
	if name != "" {
		body = appendOpt(body, ifName, []byte(name))
	}
	body = appendOpt(body, ifTsresol, []byte{9}) // nanoseconds
	if p.filter != "" {
		body = appendOpt(body, ifFilter, append([]byte{0}, p.filter...))
	}
	body = appendOpt(body, optEnd, nil)
	return id, p.block(blockIDB, body)
}

func (p *pcapngWriter) write(c captured, dirKnown bool) error {
	id, err := p.iface(c.ifname)
	if err != nil {
		return err
	}
	ns := uint64(c.ts.UnixNano())
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, id)
	body = binary.LittleEndian.AppendUint32(body, uint32(ns>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(ns))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(c.data)))
	body = binary.LittleEndian.AppendUint32(body, uint32(c.wire))
	body = append(body, c.data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	if dirKnown {
		flags := uint32(1) // inbound
		if c.outgoing {
			flags = 2
		}
		body = appendOpt(body, epbFlags, binary.LittleEndian.AppendUint32(nil, flags))
		body = appendOpt(body, optEnd, nil)
	}
	return p.block(blockEPB, body)
}

// close writes the statistics of the capture, on the first interface.
func (p *pcapngWriter) close(st Stats) error {
	if len(p.order) == 0 {
		if _, err := p.iface(""); err != nil {
			return err
		}
	}
	now := uint64(time.Now().UnixNano())
	start := uint64(p.start.UnixNano())
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, 0)
	body = binary.LittleEndian.AppendUint32(body, uint32(now>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(now))
	body = appendOpt(body, isbStartTime, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(start>>32)), uint32(start)))
	body = appendOpt(body, isbFilterAcc, binary.LittleEndian.AppendUint64(nil, st.Received))
	body = appendOpt(body, isbIfdrop, binary.LittleEndian.AppendUint64(nil, st.Dropped))
	body = appendOpt(body, optEnd, nil)
	if err := p.block(blockISB, body); err != nil {
		return err
	}
	return p.w.Flush()
}

func (p *pcapngWriter) flush() error { return p.w.Flush() }

// pcapngReader reads the packets of a pcapng file whose interfaces all
// have one link type.
type pcapngReader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	linktype uint32
	ifaces   []ngIface
	buf      []byte
}

type ngIface struct {
	linktype uint16
	snaplen  uint32
	name     string
	tsUnit   time.Duration // per timestamp tick, 0 when below a nanosecond
	tsDiv    uint64        // ticks per nanosecond when finer
}

func newPcapngReader(r *bufio.Reader) (*pcapngReader, error) {
	p := &pcapngReader{r: r}
	typ, body, err := p.readBlock()
	if err != nil {
		return nil, err
	}
	if typ != blockSHB {
		return nil, errNotPcap
	}
	_ = body
	// Read ahead to the first interface to learn the link type.
	for {
		peek, err := p.r.Peek(8)
		if err != nil {
			return nil, fmt.Errorf("pcapng: no interface description")
		}
		if p.order.Uint32(peek) == blockIDB {
			_, body, err := p.readBlock()
			if err != nil {
				return nil, err
			}
			p.addIface(body)
			p.linktype = uint32(p.ifaces[0].linktype)
			return p, nil
		}
		if _, _, err := p.readBlock(); err != nil {
			return nil, err
		}
	}
}

func (p *pcapngReader) readBlock() (uint32, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(p.r, h[:]); err != nil {
		return 0, nil, err
	}
	if p.order == nil {
		// The section header block decides the byte order.
		if binary.LittleEndian.Uint32(h[:]) != blockSHB {
			return 0, nil, errNotPcap
		}
		magic, err := p.r.Peek(4)
		if err != nil {
			return 0, nil, err
		}
		switch {
		case binary.LittleEndian.Uint32(magic) == byteOrderMagic:
			p.order = binary.LittleEndian
		case binary.BigEndian.Uint32(magic) == byteOrderMagic:
			p.order = binary.BigEndian
		default:
			return 0, nil, errNotPcap
		}
	}
	typ, n := p.order.Uint32(h[0:]), p.order.Uint32(h[4:])
	if n < 12 || n%4 != 0 || n > 1<<24 {
		return 0, nil, fmt.Errorf("pcapng: block of %d bytes: a corrupt file", n)
	}
	if cap(p.buf) < int(n-8) {
		p.buf = make([]byte, n-8)
	}
	b := p.buf[:n-8]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return 0, nil, fmt.Errorf("pcapng: truncated block: %w", err)
	}
	return typ, b[:len(b)-4], nil
}

func (p *pcapngReader) addIface(body []byte) {
	ifc := ngIface{tsUnit: time.Microsecond}
	if len(body) >= 8 {
		ifc.linktype = p.order.Uint16(body[0:])
		ifc.snaplen = p.order.Uint32(body[4:])
		for opts := body[8:]; len(opts) >= 4; {
			code, n := p.order.Uint16(opts[0:]), int(p.order.Uint16(opts[2:]))
			if 4+n > len(opts) || code == optEnd {
				break
			}
			v := opts[4 : 4+n]
			switch code {
			case ifName:
				ifc.name = string(v)
			case ifTsresol:
				if len(v) == 1 && v[0]&0x80 == 0 {
					exp := int(v[0])
					ifc.tsUnit, ifc.tsDiv = 0, 1
					unit := time.Duration(1e9)
					for range exp {
						unit /= 10
					}
					if unit >= 1 {
						ifc.tsUnit = unit
					} else {
						for i := 9; i < exp; i++ {
							ifc.tsDiv *= 10
						}
					}
				}
			}
			opts = opts[4+(n+3)&^3:]
		}
	}
	p.ifaces = append(p.ifaces, ifc)
}

// next returns the next packet; io.EOF at the end.
func (p *pcapngReader) next() (ts time.Time, data []byte, wire int, ifname string, err error) {
	for {
		typ, body, err := p.readBlock()
		if err != nil {
			return ts, nil, 0, "", err
		}
		switch typ {
		case blockIDB:
			p.addIface(body)
			if uint32(p.ifaces[len(p.ifaces)-1].linktype) != p.linktype {
				return ts, nil, 0, "", fmt.Errorf("pcapng: interfaces of different link types")
			}
		case blockEPB:
			if len(body) < 20 {
				return ts, nil, 0, "", fmt.Errorf("pcapng: short packet block")
			}
			id := int(p.order.Uint32(body[0:]))
			if id >= len(p.ifaces) {
				return ts, nil, 0, "", fmt.Errorf("pcapng: packet of an undescribed interface")
			}
			ticks := uint64(p.order.Uint32(body[4:]))<<32 | uint64(p.order.Uint32(body[8:]))
			capLen, wire := int(p.order.Uint32(body[12:])), int(p.order.Uint32(body[16:]))
			if 20+capLen > len(body) {
				return ts, nil, 0, "", fmt.Errorf("pcapng: packet longer than its block")
			}
			ifc := p.ifaces[id]
			if ifc.tsUnit > 0 {
				ts = time.Unix(0, int64(ticks)*int64(ifc.tsUnit))
			} else {
				ts = time.Unix(0, int64(ticks/ifc.tsDiv))
			}
			return ts, body[20 : 20+capLen], wire, ifc.name, nil
		case blockSPB:
			if len(body) < 4 || len(p.ifaces) == 0 {
				continue
			}
			wire := int(p.order.Uint32(body[0:]))
			return time.Time{}, body[4:min(len(body), 4+wire)], wire, p.ifaces[0].name, nil
		}
	}
}
