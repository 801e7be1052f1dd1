package rawsock

import "time"

// ChainProbe is one probe of WriteChain: what to send and where its
// read goes, then what became of them.
type ChainProbe struct {
	B, RB []byte

	Sent bool  // the send was made; WErr says whether it failed
	WErr error // the send's error
	N    int   // the length of the datagram read into RB
	Meta Meta  // what the kernel said of it
	RErr error // the read's error: ErrNoPacket when nothing was queued
	// Stamp is the kernel's transmit timestamp of the probe; zero when
	// it gave none.
	Stamp time.Time
}
