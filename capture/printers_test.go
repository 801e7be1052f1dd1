package capture

import (
	"encoding/hex"
	"testing"
)

// Options as tcpdump 4.99 prints them, from its mptcp savefiles.
func TestMPTCPOption(t *testing.T) {
	for _, tt := range []struct {
		data     string
		syn, ack bool
		want     string
	}{
		{"2001b1712fb7", false, true, "mptcp 8 dss ack 2976985015"},
		{"010173bb150358a0aecb", true, false, "mptcp 12 capable v1 {0x73bb150358a0aecb}"},
		{"1000e47f01421b665a18", true, false, "mptcp 12 join id 0 token 0xe47f0142 nonce 0x1b665a18"},
		{"34010a010202", false, true, "mptcp 8 add-addr v0-ip4 id 1 10.1.2.2"},
		{"31010a000201", false, true, "mptcp 8 add-addr v1-echo id 1 10.0.2.1"},
		{"8000", false, true, "mptcp 4 unknown"},
		{"20", true, false, "mptcp 3 dss[bad opt]"},
		{"5101", false, true, "mptcp 4 prio backup id 1"}, {"5001", false, true, "mptcp 4 prio non-backup id 1"},
	} {
		v, _ := hex.DecodeString(tt.data)
		if got := mptcpOption(v, tt.syn, tt.ack); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.data, got, tt.want)
		}
	}
}

// ARP as tcpdump prints it, whatever the packet claims of itself.
func TestARPLine(t *testing.T) {
	for _, tt := range []struct {
		data, want string
	}{
		{"0001080006040001001f29daf8fbc0a80168005500000000c0a80101", "ARP, Request who-has 192.168.1.1 (00:55:00:00:00:00) tell 192.168.1.104, length 28"},
		{"00010800060400020a0000000001c6120002000000000000c6120001", "ARP, Reply 198.18.0.2 is-at 0a:00:00:00:00:01, length 28"},
		{"0001080086040001001f29daf8fbc0a8002500000000", " [|arp]"},
		{"0001920006040001001f29daf8fbc0a80025000000000000c0a80025", "ARP, Ethernet (len 6), 802.1Q-9200 (len 4), length 28"},
	} {
		b, _ := hex.DecodeString(tt.data)
		if got := arpLine(b, len(b)).text; got != tt.want {
			t.Errorf("%s: %q, want %q", tt.data, got, tt.want)
		}
	}
}

func FuzzRESP(f *testing.F) {
	for _, s := range []string{"*2\r\n$4\r\nLLEN\r\n$6\r\nmylist\r\n", "+PONG\r\n", "$-1\r\n", "*-5\r\n", "PING\r\nPING\r\n", "$99999999999\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { respText(b) })
}

func FuzzBabel(f *testing.F) {
	f.Add([]byte{42, 2, 0, 8, 4, 6, 0, 0, 0, 1, 1, 144})
	f.Fuzz(func(t *testing.T, b []byte) { babelText(b) })
}

func FuzzSCTP(f *testing.F) {
	f.Add([]byte{0xbb, 0xc0, 0x1a, 0x32, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0xe0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 4 {
			sctpText(b, int(b[0])<<8|int(b[1]), int(b[2])<<8|int(b[3]))
		}
	})
}

// Every printer chosen by a UDP port, on any bytes: no panic.
func FuzzUDPApps(f *testing.F) {
	f.Add(uint16(7000), []byte("0123456789012345678901234567\x02\x00"))
	f.Add(uint16(1812), []byte{1, 2, 0, 20})
	f.Add(uint16(6343), []byte{0, 0, 0, 5, 0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, port uint16, b []byte) {
		for _, p := range []int{int(port), 1985, 3784, 67, 123, 646, 6696, 5359, 49152, 4500, 546, 520, 7001, 1812, 6343} {
			udpApp(p, 40000, b, len(b))
			udpApp(40000, p, b, len(b))
		}
	})
}
