package capture

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// lockedBuffer is stderr, written by the run and read by the test while
// it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// droppingSource is a fakeSource whose kernel dropped packets, as a
// rawsock.PacketConn says while its reader runs (Dropped).
type droppingSource struct{ *fakeSource }

func (d droppingSource) Dropped() (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped, nil
}

// within waits at most d for cond.
func within(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// SIGUSR1 asks for tcpdump's one-line tallies while the capture goes
// on: printing lines, and writing a file from the reader.
func TestInfoRequest(t *testing.T) {
	for _, mode := range []string{"lines", "-w"} {
		t.Run(mode, func(t *testing.T) {
			src := &fakeSource{queue: packets(threePackets(t)), dropped: 5}
			info := make(chan os.Signal, 1)
			opts := Options{Iface: "v0", Duration: 5 * time.Second, Name: "tcpdump", InfoRequests: info,
				Listen: func(cfg rawsock.PacketConfig) (Source, error) {
					s, err := src.listen(cfg)
					return droppingSource{s.(*fakeSource)}, err
				}}
			if mode == "-w" {
				opts.WriteFile = filepath.Join(t.TempDir(), "out.pcap")
			}
			ctx, cancel := context.WithCancel(context.Background())
			var stderr lockedBuffer
			done := make(chan error, 1)
			go func() { done <- Run(ctx, opts, &bytes.Buffer{}, &stderr) }()
			want := "tcpdump: 3 packets captured, 3 packets received by filter, 5 packets dropped by kernel\n"
			// The three are taken from the ring at once; ask until they
			// are counted.
			ok := within(3*time.Second, func() bool {
				select {
				case info <- syscall.SIGUSR1:
				default:
				}
				time.Sleep(20 * time.Millisecond)
				return strings.Contains(stderr.String(), want)
			})
			cancel()
			if err := <-done; !errors.Is(err, report.ErrNetwork) {
				t.Fatalf("%v, want exit 1 for the drops", err)
			}
			if !ok {
				t.Errorf("no %q while capturing\n%s", want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "\n3 packets captured\n3 packets received by filter\n5 packets dropped by kernel\n") {
				t.Errorf("the tallies at the end changed:\n%s", stderr.String())
			}
		})
	}
}

// tcpdump's nouns: "1 packet".
func TestTalliesSingular(t *testing.T) {
	_, stderr, err := capture(t, &fakeSource{queue: packets(threePackets(t)[:1])}, Options{Count: 1})
	if err != nil || stderr != "1 packet captured\n1 packet received by filter\n0 packets dropped by kernel\n" {
		t.Errorf("%v\n%s", err, stderr)
	}
}

// SIGUSR2 writes out a -w file's buffer though packets keep coming (the
// reader, busy, never flushes for want of work). The records are 80
// bytes (a 64-byte frame and its header) after a 24-byte file header: a
// flushed file's size is 8 past a multiple of 16, where the buffer's own
// writes (256 KiB) leave multiples of 16.
func TestFlushRequest(t *testing.T) {
	frame := make([]byte, 64)
	copy(frame, threePackets(t)[1])
	src := &fakeSource{gen: func() rawsock.Packet {
		return rawsock.Packet{Data: frame, Length: len(frame), Time: time.Now(), Ifindex: 1, Protocol: 0x0800, VLAN: -1, HAType: 1}
	}}
	file := filepath.Join(t.TempDir(), "out.pcap")
	flush := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Iface: "v0", Duration: 5 * time.Second, WriteFile: file, FlushRequests: flush, Listen: src.listen}, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	size := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	time.Sleep(100 * time.Millisecond)
	flush <- syscall.SIGUSR2
	flushed := within(2*time.Second, func() bool { return size() > 24 && size()%16 == 8 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !flushed {
		t.Errorf("the file was not written out at SIGUSR2 (size %d)", size())
	}
}

// tcpdump -v -w: "Got N" on stderr once a second, while N changes.
func TestVerboseFileCountsOnStderr(t *testing.T) {
	_, stderr, err := capture(t, &fakeSource{queue: packets(threePackets(t))},
		Options{Verbose: 1, WriteFile: filepath.Join(t.TempDir(), "out.pcap"), Duration: 2300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr, "Got 3\r"); n != 1 || strings.Count(stderr, "Got ") != 1 {
		t.Errorf("want one \"Got 3\\r\" in 2.3 s:\n%q", stderr)
	}
}
