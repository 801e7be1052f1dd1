package scan

import "encoding/binary"

// udpPayload is what a UDP probe to port carries: a request the service
// answers, so an open port says so (an empty datagram draws no answer
// from most services). Unknown ports get an empty datagram.
func udpPayload(port uint16) []byte {
	switch port {
	case 53, 5353: // DNS: a standard query for the root's NS records
		return []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1}
	case 123: // NTP v4 client request (RFC 5905)
		b := make([]byte, 48)
		b[0] = 0x23 // LI 0, version 4, mode 3
		return b
	case 161: // SNMP v1 get-request, community "public", sysDescr.0
		return []byte{0x30, 0x26, 0x02, 0x01, 0x00, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c',
			0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c,
			0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00}
	case 137: // NetBIOS node status query for "*"
		b := []byte{0x80, 0xf0, 0x00, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0x20, 'C', 'K'}
		for range 30 {
			b = append(b, 'A')
		}
		return append(b, 0, 0, 0x21, 0, 1)
	case 1900: // SSDP discovery
		return []byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n")
	case 500: // IKE: an ISAKMP header with a random initiator cookie
		b := make([]byte, 28)
		binary.BigEndian.PutUint64(b[0:8], 0x5241574b49543031)
		b[17], b[18] = 0x10, 2 // version 1.0, identity protection
		binary.BigEndian.PutUint32(b[24:28], 28)
		return b
	case 11211: // memcached "stats" over UDP with its frame header
		return append([]byte{0, 1, 0, 0, 0, 1, 0, 0}, "stats\r\n"...)
	}
	return nil
}
