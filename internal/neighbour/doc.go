// Package neighbour asks hosts on an attached Ethernet link whether they
// are there, below IP: an ARP request (RFC 826) for IPv4, a Neighbor
// Solicitation (RFC 4861, section 7.2.2) for IPv6, as nmap's ARP and ND
// ping do (nmap(1), -PR). A host that answers is up whatever its
// firewall drops, and the answer carries its link-layer address.
//
// Linux only: elsewhere OnLink reports no target as on the link.
package neighbour
