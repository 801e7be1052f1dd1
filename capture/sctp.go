package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// sctpChunks are tcpdump's labels of SCTP chunk types (print-sctp.c).
var sctpChunks = map[byte]string{0: "DATA", 1: "INIT", 2: "INIT ACK", 3: "SACK", 4: "HB REQ", 5: "HB ACK", 6: "ABORT",
	7: "SHUTDOWN", 8: "SHUTDOWN ACK", 9: "OP ERR", 10: "COOKIE ECHO", 11: "COOKIE ACK", 12: "ECN ECHO", 13: "ECN CWR",
	14: "SHUTDOWN COMPLETE", 192: "FOR CUM ACK", 193: "ASCONF", 128: "ASCONF-ACK", 15: "AUTH", 64: "I-DATA", 194: "RE-CONFIG", 130: "PAD"}

// sctpPPIDs name payload protocols (IANA's SCTP payload protocol ids).
var sctpPPIDs = map[uint32]string{1: "IUA", 2: "M2UA", 3: "M3UA", 4: "SUA", 5: "M2PA", 6: "V5.2", 7: "H.248", 8: "BICC/Q.2150.3",
	9: "TALI", 10: "DUA", 11: "ASAP", 12: "ENRP", 13: "H.323", 14: "Q.IPC/Q.2150.3", 15: "SIMCO", 16: "DDP Segment",
	17: "DDP Stream", 18: "S1AP"}

// sctpText is an SCTP packet (RFC 9260; print-sctp.c) as tcpdump prints
// it without -v, after the addresses and ports: "sctp", the ForCES
// channel a port names, and each chunk numbered.
func sctpText(b []byte, sport, dport int) string {
	var t strings.Builder
	t.WriteString("sctp")
	forces := map[int]string{6704: "ForCES HP", 6705: "ForCES MP", 6706: "ForCES LP"}
	if n, ok := forces[sport]; ok {
		t.WriteString("[" + n + "]")
	}
	if n, ok := forces[dport]; ok {
		t.WriteString("[" + n + "]")
	}
	b = b[min(12, len(b)):]
	sep := " ("
	for n := 1; len(b) >= 4; n++ {
		typ, flags, length := b[0], b[1], int(binary.BigEndian.Uint16(b[2:]))
		if length < 4 || length > len(b) {
			break
		}
		chunk := b[4:length]
		fmt.Fprintf(&t, "%s%d) ", sep, n)
		sep = ", ("
		name, ok := sctpChunks[typ]
		if !ok {
			fmt.Fprintf(&t, "[Unknown chunk type: 0x%x]", typ)
		} else {
			t.WriteString("[" + name + "] ")
		}
		u32 := func(at int) uint32 { return binary.BigEndian.Uint32(chunk[at:]) }
		switch {
		case typ == 0 && len(chunk) >= 12:
			for _, f := range []struct {
				bit  byte
				name string
			}{{4, "(U)"}, {2, "(B)"}, {1, "(E)"}} {
				if flags&f.bit != 0 {
					t.WriteString(f.name)
				}
			}
			if flags&7 != 0 {
				t.WriteByte(' ')
			}
			ppid, ok := sctpPPIDs[u32(8)]
			if !ok {
				ppid = fmt.Sprintf("0x%x", u32(8))
			}
			fmt.Fprintf(&t, "[TSN: %d] [SID: %d] [SSEQ %d] [PPID %s] ", u32(0), binary.BigEndian.Uint16(chunk[4:]), binary.BigEndian.Uint16(chunk[6:]), ppid)
		case (typ == 1 || typ == 2) && len(chunk) >= 16:
			fmt.Fprintf(&t, "[init tag: %d] [rwnd: %d] [OS: %d] [MIS: %d] [init TSN: %d] ", u32(0), u32(4),
				binary.BigEndian.Uint16(chunk[8:]), binary.BigEndian.Uint16(chunk[10:]), u32(12))
		case typ == 3 && len(chunk) >= 12:
			fmt.Fprintf(&t, "[cum ack %d] [a_rwnd %d] [#gap acks %d] [#dup tsns %d] ", u32(0), u32(4),
				binary.BigEndian.Uint16(chunk[8:]), binary.BigEndian.Uint16(chunk[10:]))
		}
		b = b[min(len(b), (length+3)&^3):]
	}
	return t.String()
}
