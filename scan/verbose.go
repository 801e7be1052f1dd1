package scan

import (
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// verboseLog writes nmap's -v lines to the normal output on the terminal
// as the scan goes: each phase's "Initiating", "Scanning" and
// "Completed" lines, "Discovered open port" as each is found, hosts found
// down, and the packet counts at the end (nmap(1), "Verbosity").
type verboseLog struct {
	mu    sync.Mutex
	w     io.Writer
	level int
	began time.Time // the current phase's start
	// Raw packets: nmap's "Raw packets sent: N (B) | Rcvd: N (B)".
	sentPkts, sentBytes, rcvdPkts, rcvdBytes atomic.Uint64
}

// line writes one line at once; nil (not verbose) writes nothing.
func (v *verboseLog) line(format string, args ...any) {
	if v == nil || v.w == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, format+"\n", args...)
}

// sent and received count the IP packets of raw probes and their answers
// with the IP header the kernel adds or strips (20 or 40 bytes).
func (v *verboseLog) sent(dst netip.Addr, payload int) {
	if v != nil {
		v.sentPkts.Add(1)
		v.sentBytes.Add(uint64(payload + ipHeaderLen(dst)))
	}
}

func (v *verboseLog) received(src netip.Addr, payload int) {
	if v != nil {
		v.rcvdPkts.Add(1)
		v.rcvdBytes.Add(uint64(payload + ipHeaderLen(src)))
	}
}

// sentPacket and receivedPacket count packets of a length already known
// (ARP messages, whole IPv6 packets).
func (v *verboseLog) sentPacket(n int) {
	if v != nil {
		v.sentPkts.Add(1)
		v.sentBytes.Add(uint64(n))
	}
}

func (v *verboseLog) receivedPacket(n int) {
	if v != nil {
		v.rcvdPkts.Add(1)
		v.rcvdBytes.Add(uint64(n))
	}
}

func ipHeaderLen(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 20
	}
	return 40
}

// phase starts a phase: nmap's "Initiating SYN Stealth Scan at 04:17" and
// "Scanning 198.18.1.2 [3 ports]" or "Scanning 4 hosts [100 ports/host]".
func (v *verboseLog) phase(name string, targets []netip.Addr, ports int) {
	if v == nil || v.w == nil {
		return
	}
	v.began = time.Now()
	v.line("Initiating %s at %s", name, v.began.Format("15:04"))
	switch {
	case len(targets) == 1:
		v.line("Scanning %s [%s]", targets[0], plural(ports, "port", "ports"))
	case len(targets) > 1:
		v.line("Scanning %d hosts [%s/host]", len(targets), plural(ports, "port", "ports"))
	}
}

// completed ends a phase: "Completed Ping Scan at 04:17, 0.02s elapsed
// (1 total hosts)" (nmap's plural whatever the count).
func (v *verboseLog) completed(name string, total uint64, unit string) {
	if v == nil || v.w == nil {
		return
	}
	now := time.Now()
	v.line("Completed %s at %s, %.2fs elapsed (%d total %s)", name, now.Format("15:04"), now.Sub(v.began).Seconds(), total, unit)
}

// packets is the last line of a verbose run, indented under "Nmap done".
func (v *verboseLog) packets() string {
	if v == nil || v.sentPkts.Load() == 0 {
		return ""
	}
	return fmt.Sprintf("           Raw packets sent: %d (%s) | Rcvd: %d (%s)\n", v.sentPkts.Load(), byteCount(v.sentBytes.Load()),
		v.rcvdPkts.Load(), byteCount(v.rcvdBytes.Load()))
}

// byteCount is nmap's "284B", "26.444KB", "1.234MB".
func byteCount(b uint64) string {
	switch {
	case b < 1000:
		return fmt.Sprintf("%dB", b)
	case b < 1000000:
		return fmt.Sprintf("%.3fKB", float64(b)/1e3)
	case b < 1000000000:
		return fmt.Sprintf("%.3fMB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.3fGB", float64(b)/1e9)
}

// scanName is the phase's name as nmap prints it.
func (t Type) scanName() string {
	return [...]string{"SYN Stealth Scan", "Connect Scan", "UDP Scan"}[t]
}
