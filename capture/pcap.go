package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// pcap link types (the LINKTYPE_ numbers of the file format).
const (
	linkEthernet = 1
	linkRaw      = 101
	linkLinuxSLL = 113
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
)

// pcapWriter writes the classic pcap format with nanosecond timestamps.
type pcapWriter struct {
	w *bufio.Writer
	h [16]byte // a record's header: here, not one allocation a packet
}

func newPcapWriter(w io.Writer, linktype uint32, snaplen int) (*pcapWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], magicNano)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], linktype)
	if _, err := bw.Write(h); err != nil {
		return nil, err
	}
	return &pcapWriter{w: bw}, nil
}

func (p *pcapWriter) write(ts time.Time, data []byte, wire int) error {
	h := p.h[:]
	binary.LittleEndian.PutUint32(h[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(wire))
	if _, err := p.w.Write(h); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}

func (p *pcapWriter) flush() error { return p.w.Flush() }

// pcapReader reads classic pcap files, microsecond or nanosecond, either
// byte order.
type pcapReader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nano     bool
	linktype uint32
	snaplen  uint32
	buf      []byte
}

var errNotPcap = errors.New("unknown file format: neither pcap nor pcapng")

func newPcapReader(r io.Reader) (*pcapReader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	h := make([]byte, 24)
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, fmt.Errorf("reading the pcap header: %w", err)
	}
	p := &pcapReader{r: br}
	switch {
	case binary.LittleEndian.Uint32(h) == magicMicro:
		p.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h) == magicNano:
		p.order, p.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h) == magicMicro:
		p.order = binary.BigEndian
	case binary.BigEndian.Uint32(h) == magicNano:
		p.order, p.nano = binary.BigEndian, true
	default:
		return nil, errNotPcap
	}
	p.linktype = p.order.Uint32(h[20:])
	p.snaplen = p.order.Uint32(h[16:])
	return p, nil
}

// next returns the next record; io.EOF at the end.
func (p *pcapReader) next() (ts time.Time, data []byte, wire int, err error) {
	var h [16]byte
	if _, err = io.ReadFull(p.r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("truncated record header")
		}
		return
	}
	sec, frac := p.order.Uint32(h[0:]), p.order.Uint32(h[4:])
	capLen, wire := int(p.order.Uint32(h[8:])), int(p.order.Uint32(h[12:]))
	if capLen > 1<<20 {
		return ts, nil, 0, fmt.Errorf("record of %d bytes: a corrupt file", capLen)
	}
	if cap(p.buf) < capLen {
		p.buf = make([]byte, capLen)
	}
	data = p.buf[:capLen]
	if _, err = io.ReadFull(p.r, data); err != nil {
		return ts, nil, 0, fmt.Errorf("truncated record: %w", err)
	}
	if !p.nano {
		frac *= 1000
	}
	return time.Unix(int64(sec), int64(frac)), data, wire, nil
}

// source is a file of packets: pcap or pcapng.
type source interface {
	linkType() uint32
	snapLen() uint32
	read() (ts time.Time, data []byte, wire int, ifname string, err error)
}

func (p *pcapReader) linkType() uint32 { return p.linktype }
func (p *pcapReader) snapLen() uint32  { return p.snaplen }

func (p *pcapngReader) snapLen() uint32 {
	if len(p.ifaces) == 0 {
		return 0
	}
	return p.ifaces[0].snaplen
}
func (p *pcapReader) read() (time.Time, []byte, int, string, error) {
	ts, data, wire, err := p.next()
	return ts, data, wire, "", err
}

func (p *pcapngReader) linkType() uint32 { return p.linktype }
func (p *pcapngReader) read() (time.Time, []byte, int, string, error) {
	return p.next()
}

// openSource reads a pcap or pcapng header, telling them apart by their
// first four bytes.
func openSource(r io.Reader) (source, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading the file header: %w", err)
	}
	if binary.LittleEndian.Uint32(magic) == blockSHB {
		return newPcapngReader(br)
	}
	return newPcapReader(br)
}
