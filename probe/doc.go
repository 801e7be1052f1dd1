// Package probe builds the transport headers of network probes and reads
// them back out of the quotes of ICMP errors: UDP (RFC 768) and TCP SYN
// (RFC 9293) headers with their Internet checksums (RFC 1071) over the
// IPv4 or IPv6 pseudo-header, and ICMP echo requests.
//
// Its probes are flow-constant in the manner of Paris traceroute
// (Augustin et al., "Avoiding traceroute anomalies with Paris
// traceroute", IMC 2006): what per-flow load balancers hash — addresses,
// ports, for ICMP the type, code and checksum — stays the same for every
// probe of a flow, and the probe's identity rides in a field they ignore:
// the UDP checksum (made to equal the identity by two payload bytes), the
// ICMP sequence number (with two payload bytes compensating it so the
// checksum is constant), or the TCP sequence number.
//
// Like package icmp it is a pure codec: bytes in, bytes out, no I/O.
package probe
