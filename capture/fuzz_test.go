package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/rawkit/rawkit/filter"
)

// Packets from the network and files from users: described or refused,
// never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(0x800), []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2, 8, 0, 0, 0, 0, 1, 0, 1})
	f.Add(uint16(0x86dd), make([]byte, 48))
	f.Add(uint16(0x806), make([]byte, 28))
	f.Add(uint16(0x800), []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2, 0, 53, 0, 53, 0, 20, 0, 0, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, et uint16, b []byte) {
		decode(et, b, false)
		decode(et, b, true)
	})
}

func FuzzPcapReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := newPcapWriter(&buf, linkEthernet, 65535)
	w.write(time.Unix(1, 2), make([]byte, 60), 60)
	w.flush()
	f.Add(buf.Bytes())
	hdr := make([]byte, 24)
	binary.BigEndian.PutUint32(hdr, magicMicro)
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := newPcapReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 100 {
			if _, _, _, err := r.next(); err != nil {
				return
			}
		}
	})
}

func TestPcapRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := newPcapWriter(&buf, linkLinuxSLL, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 123456789)
	w.write(ts, []byte("abc"), 10)
	w.flush()
	r, err := newPcapReader(&buf)
	if err != nil || r.linktype != linkLinuxSLL || !r.nano {
		t.Fatalf("%+v %v", r, err)
	}
	got, data, wire, err := r.next()
	if err != nil || !got.Equal(ts) || string(data) != "abc" || wire != 10 {
		t.Errorf("%v %q %d %v", got, data, wire, err)
	}
	if _, _, _, err := r.next(); err != io.EOF {
		t.Errorf("after the last record: %v", err)
	}
}

func TestBatchCopies(t *testing.T) {
	pool := newBatchPool(1)
	b := pool.get()
	if pool.get() != nil {
		t.Fatal("a pool of one gave a second batch")
	}
	x := b.add3([]byte("ab"), []byte("cd"), []byte("efgh"), 5)
	y := b.add(nil, []byte("12345678"), 100)
	if string(x) != "abcde" || string(y) != "12345678" {
		t.Fatalf("%q %q", x, y)
	}
	big := b.add(nil, make([]byte, batchBytes+1), batchBytes+10)
	if len(big) != batchBytes+1 || string(x) != "abcde" {
		t.Errorf("a packet larger than the batch moved earlier copies or was cut")
	}
	b.unadd(y)
	z := b.add(nil, []byte("zz"), 10)
	if string(x) != "abcde" || string(z) != "zz" {
		t.Errorf("unadd: %q %q", x, z)
	}
	pool.put(b)
	if pool.get() != b {
		t.Error("a batch given back is not reused")
	}
}

func FuzzLayers(f *testing.F) {
	f.Add(ethFrame(0x800, []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2, 0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0xfa, 0xf0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, lt := range []filter.LinkType{filter.Ethernet, filter.LinuxSLL, filter.RawIP} {
			newDecoder(lt).decode(b)
		}
	})
}

func ethFrame(et uint16, l3 []byte) []byte {
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, byte(et >> 8), byte(et)}
	return append(b, l3...)
}

// The layer decoder prints what tcpdump -n prints for these packets.
func TestLayerText(t *testing.T) {
	syn := ethFrame(0x800, []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2,
		0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0xfa, 0xf0, 0, 0, 0, 0})
	dnsQ := ethFrame(0x800, append([]byte{0x45, 0, 0, 57, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2,
		0x9c, 0x40, 0, 53, 0, 37, 0, 0},
		0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1))
	arp := ethFrame(0x806, []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 2})
	for _, tt := range []struct {
		frame []byte
		want  string
	}{
		{syn, "IP 198.18.0.1.40000 > 198.18.1.2.80: Flags [S], seq 1, win 64240, length 0"},
		{dnsQ, "IP 198.18.0.1.40000 > 198.18.1.2.53: 4660+ A? example.com. (29)"},
		{arp, "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"},
	} {
		if got := newDecoder(filter.Ethernet).decode(tt.frame).text; got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
