package rawsock

import (
	"errors"
	"time"

	"golang.org/x/net/bpf"
)

// PacketConfig describes a capture socket (packet(7)) with a TPACKET_V3
// receive ring.
type PacketConfig struct {
	// Iface is the interface to capture on; "" or "any" captures on all,
	// in cooked mode (the kernel strips link headers, as libpcap's "any").
	Iface string
	// Filter runs in the kernel on each packet as the socket sees it: from
	// the Ethernet header on an interface, from the network header on
	// "any". Nil keeps everything.
	Filter      []bpf.Instruction
	Promiscuous bool
	// BlockSize × Blocks is the ring's size; zero values give 1 MiB × 4.
	BlockSize, Blocks int
	// Snaplen bounds the bytes kept of each packet (0: 262144).
	Snaplen int
}

// Packet is one captured packet; Data is valid until the next Next.
type Packet struct {
	Data     []byte // from the link-layer header (the network header on "any")
	Length   int    // on the wire
	Time     time.Time
	Ifindex  int
	Outgoing bool   // sent by this host
	PktType  uint8  // PACKET_HOST, PACKET_BROADCAST, PACKET_OUTGOING, ...
	Protocol uint16 // the link-layer protocol (ethertype)
	VLAN     int    // the 802.1Q tag the kernel took off, -1 if none
	HAType   uint16 // ARPHRD_ of the device
	// HALen bytes of HAddr are the link-layer address the kernel gives
	// (sockaddr_ll's): the sender's for a packet received, the device's
	// own for one sent.
	HALen uint8
	HAddr [8]byte
}

// BlockTimeout is how long the kernel keeps a partly filled ring block
// before handing it over: the longest a captured packet waits to be seen.
const BlockTimeout = 20 * time.Millisecond

// ErrInterfaceGone is returned by Next when the interface captured on
// was removed.
var ErrInterfaceGone = errors.New("the interface disappeared")

// ErrInterfaceDown is returned by Next when the interface captured on
// went down; the socket stays usable should it come up again.
var ErrInterfaceDown = errors.New("the interface went down")
