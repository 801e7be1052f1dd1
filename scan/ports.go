package scan

// The embedded port lists and service names are rawkit's own, written
// from the well-known assignments (IANA) and common deployment practice,
// most common first. They are not nmap's nmap-services frequencies;
// --top-ports N beyond the listed ones continues with the rest of the
// port space in numeric order.

var topTCP = []uint16{
	80, 443, 22, 21, 25, 23, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993, 5900,
	1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060, 179, 1026, 2000, 8443, 8000, 32768, 554,
	26, 1433, 49152, 2001, 515, 8008, 49154, 1027, 5666, 646, 5000, 5631, 631, 49153, 8081, 2049, 88, 79, 5800, 106,
	2121, 1110, 49155, 6000, 513, 990, 5357, 427, 49156, 543, 544, 5101, 144, 7, 389, 8009, 3128, 444, 9999, 5009,
	7070, 5190, 3000, 5432, 1900, 3986, 13, 1029, 9, 5051, 6646, 49157, 1028, 873, 1755, 2717, 4899, 9100, 119, 37,
	1521, 1527, 2375, 2376, 2379, 2380, 3260, 4369, 5044, 5222, 5269, 5601, 5672, 5984, 6379, 6443, 7001, 7077, 8020, 8086,
	8088, 8161, 8200, 8500, 8761, 9000, 9042, 9090, 9092, 9200, 9300, 9418, 10250, 11211, 15672, 27017, 50000, 50070, 61616, 2181,
}

var topUDP = []uint16{
	631, 161, 137, 123, 138, 1434, 445, 135, 67, 53, 139, 500, 68, 520, 1900, 4500, 514, 49152, 162, 69,
	5353, 111, 49154, 1701, 998, 996, 997, 999, 3283, 49153, 1812, 1813, 2049, 5060, 11211, 1194, 51820, 4789, 3478, 27015,
}

var services = map[uint16]string{
	7: "echo", 9: "discard", 13: "daytime", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 37: "time",
	53: "domain", 67: "dhcps", 68: "dhcpc", 69: "tftp", 79: "finger", 80: "http", 81: "hosts2-ns", 88: "kerberos",
	106: "pop3pw", 110: "pop3", 111: "rpcbind", 113: "ident", 119: "nntp", 123: "ntp", 135: "msrpc",
	137: "netbios-ns", 138: "netbios-dgm", 139: "netbios-ssn", 143: "imap", 161: "snmp", 162: "snmptrap",
	179: "bgp", 389: "ldap", 427: "svrloc", 443: "https", 445: "microsoft-ds", 465: "smtps", 500: "isakmp",
	513: "login", 514: "shell", 515: "printer", 520: "route", 548: "afp", 554: "rtsp", 587: "submission",
	631: "ipp", 636: "ldapssl", 873: "rsync", 990: "ftps", 993: "imaps", 995: "pop3s", 1194: "openvpn",
	1433: "ms-sql-s", 1434: "ms-sql-m", 1521: "oracle", 1701: "l2tp", 1723: "pptp", 1812: "radius",
	1813: "radacct", 1900: "upnp", 2049: "nfs", 2181: "zookeeper", 2375: "docker", 2376: "docker-s",
	2379: "etcd-client", 2380: "etcd-server", 3128: "squid-http", 3260: "iscsi", 3306: "mysql",
	3389: "ms-wbt-server", 3478: "stun", 4369: "epmd", 4500: "nat-t-ike", 4789: "vxlan", 5060: "sip",
	5353: "mdns", 5432: "postgresql", 5601: "kibana", 5672: "amqp", 5900: "vnc", 5984: "couchdb",
	6379: "redis", 6443: "kubernetes", 8000: "http-alt", 8008: "http", 8080: "http-proxy", 8081: "blackice-icecap",
	8086: "influxdb", 8443: "https-alt", 8888: "sun-answerbook", 9000: "cslistener", 9042: "cassandra",
	9090: "zeus-admin", 9092: "kafka", 9100: "jetdirect", 9200: "elasticsearch", 9418: "git",
	10250: "kubelet", 11211: "memcache", 15672: "rabbitmq-mgmt", 27017: "mongod", 51820: "wireguard",
}

// embeddedService is the usual service name of a port, or "unknown".
func embeddedService(port uint16) string {
	if s, ok := services[port]; ok {
		return s
	}
	return "unknown"
}
