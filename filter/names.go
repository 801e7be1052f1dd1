package filter

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// keywords are the words libpcap's scanner reserves (its scanner.l): a
// name that is one of them is written with a backslash after proto.
var keywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`dst src host gateway net mask netmask port portrange proto protochain
		arp rarp ip sctp tcp udp icmp igmp igrp pim vrrp carp radio ip6 icmp6 ah esp
		atalk aarp decnet lat sca moprc mopdl iso esis es-is isis is-is l1 l2 iih lsp snp csnp psnp clnp
		stp ipx netbeui link ether ppp slip fddi tr wlan less greater byte broadcast multicast
		and or not len length inbound outbound ifindex vlan mpls pppoed pppoes geneve lane llc
		metac bcc oam oamf4 oamf4ec oamf4sc sc ilmic connectmsg metaconnect on ifname rset rnr srnr
		reason rulenum action dir type subtype addr1 addr2 addr3 addr4 ra ta hdr`) {
		keywords[w] = true
	}
}

// The system's service and protocol names, as libpcap resolves them
// (getservbyname, getprotobyname): read from /etc/services and
// /etc/protocols once; where a file is missing, a few well-known names.
var (
	namesOnce sync.Once
	services  map[string]map[string]uint32 // name -> protocol (tcp, udp, sctp) -> port
	protocols map[string]uint32
)

var fallbackServices = map[string]map[string]uint32{
	"ftp": {"tcp": 21}, "ssh": {"tcp": 22}, "telnet": {"tcp": 23}, "smtp": {"tcp": 25},
	"domain": {"tcp": 53, "udp": 53}, "bootps": {"udp": 67}, "bootpc": {"udp": 68}, "http": {"tcp": 80},
	"pop3": {"tcp": 110}, "ntp": {"udp": 123}, "imap": {"tcp": 143}, "snmp": {"tcp": 161, "udp": 161}, "https": {"tcp": 443},
}

func loadNames() {
	services = map[string]map[string]uint32{}
	protocols = map[string]uint32{}
	eachLine("/etc/services", func(f []string) {
		port, proto, ok := strings.Cut(f[1], "/")
		n, err := strconv.ParseUint(port, 10, 16)
		if !ok || err != nil {
			return
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if services[name] == nil {
				services[name] = map[string]uint32{}
			}
			if _, seen := services[name][proto]; !seen {
				services[name][proto] = uint32(n)
			}
		}
	})
	if len(services) == 0 {
		services = fallbackServices
	}
	eachLine("/etc/protocols", func(f []string) {
		n, err := strconv.ParseUint(f[1], 10, 8)
		if err != nil {
			return
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, seen := protocols[name]; !seen {
				protocols[name] = uint32(n)
			}
		}
	})
	if len(protocols) == 0 {
		protocols = protoNumbers
	}
}

// eachLine calls fn with the fields of each line of name (comments
// removed) that has at least two.
func eachLine(name string, fn func([]string)) {
	f, err := os.Open(name)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) >= 2 {
			fn(fields)
		}
	}
}

// ipProtocol is the IP protocol number of a name in /etc/protocols.
func ipProtocol(name string) (uint32, bool) {
	namesOnce.Do(loadNames)
	n, ok := protocols[name]
	return n, ok
}

// servicePort is the port of a service name, and the one protocol it is
// defined for ("" when TCP and UDP both have it at the same port), as
// libpcap's pcap_nametoport.
func servicePort(name string) (uint32, string, bool) {
	namesOnce.Do(loadNames)
	byProto := services[name]
	tcp, hasTCP := byProto["tcp"]
	udp, hasUDP := byProto["udp"]
	switch {
	case hasTCP && hasUDP && tcp == udp:
		return tcp, "", true
	case hasTCP:
		return tcp, "tcp", true
	case hasUDP:
		return udp, "udp", true
	}
	if n, ok := byProto["sctp"]; ok {
		return n, "sctp", true
	}
	return 0, "", false
}
