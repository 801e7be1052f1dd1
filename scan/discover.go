package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/neighbour"
	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// Host discovery, as nmap's before a port scan and alone with -sn
// (nmap(1), "HOST DISCOVERY"): as root it sends each target an ICMP echo
// request, a TCP SYN to port 443, a TCP ACK to port 80 and (IPv4) an ICMP
// timestamp request; any answer from the target means it is up (an ICMP
// unreachable about it, that it is down). Unanswered targets are asked
// once more after the wait. -PS, -PA, -PU, -PE and -PP choose the probes
// instead. A target on an attached Ethernet link is asked below IP
// instead, as nmap does whatever the probes chosen: an ARP request (IPv4)
// or a neighbour solicitation (IPv6), its "ARP Ping Scan" or "ND Ping
// Scan" (package neighbour); --send-ip keeps the IP probes for them too.

// Discovery names the probes of host discovery; the zero value is nmap's
// default set.
type Discovery struct {
	SYN       []uint16 // -PS: TCP SYN to these ports
	ACK       []uint16 // -PA: TCP ACK to these ports
	UDP       []uint16 // -PU: empty UDP datagrams to these ports
	Echo      bool     // -PE
	Timestamp bool     // -PP
	ARP       bool     // -PR: ARP/ND for targets on the link (the default anyway)
	// SendIP (--send-ip, --disable-arp-ping) asks targets on the link
	// with the IP probes too.
	SendIP bool
}

// defaults is nmap's default discovery as root.
func (d Discovery) defaults() Discovery {
	if len(d.SYN) == 0 && len(d.ACK) == 0 && len(d.UDP) == 0 && !d.Echo && !d.Timestamp {
		d.SYN, d.ACK, d.Echo, d.Timestamp = []uint16{443}, []uint16{80}, true, true
	}
	return d
}

// probes is how many IP probes a target gets: nmap's "[N ports]".
func (d Discovery) probes() int {
	return len(d.SYN) + len(d.ACK) + len(d.UDP) + btoi(d.Echo) + btoi(d.Timestamp)
}

// hostState is what discovery found of one target.
type hostState struct {
	up, down bool // an answer said so; neither when nothing answered
	why      string
	ttl      int
	rtt      time.Duration
	sent     time.Time // the round's first probe
	order    int       // of the answer that said up (discoveryAnswer.order)
	mac      string    // from an ARP or ND answer
}

type discoveryAnswer struct {
	target int
	up     bool
	why    string
	ttl    int
	at     time.Time
	mac    string
	// order is the answered probe's place in the order they are sent
	// (echo, SYN, ACK, timestamp): of answers read together, the one to
	// the earliest probe is the reason given, as nmap gives it.
	order int
}

// discover runs host discovery over s.targets and returns their states,
// in order: first the targets on an attached link (ARP or ND), then the
// others (IP probes), each group a phase of its own as nmap's.
func (s *scanner) discover(ctx context.Context) ([]hostState, error) {
	d := s.opts.Discovery.defaults()
	hosts := make([]hostState, len(s.targets))
	links := map[int]neighbour.Link{}
	if !d.SendIP && s.opts.Network == nil {
		rawsock.InNetns(s.opts.Netns, func() error {
			onLink := neighbour.OnLink // the kernel's own answer, ~20 µs a target
			if len(s.targets) > 64 {
				if r, err := neighbour.ReadRoutes(); err == nil {
					onLink = r.OnLink // the routing table read once
				}
			}
			for i, a := range s.targets {
				if l, ok := onLink(a, s.opts.Iface); ok {
					links[i] = l
				}
			}
			return nil
		})
	}
	// nmap's host groups: this host's own addresses (up, without a
	// probe), targets on the link (ARP/ND), the others (IP probes); the
	// groups in the order their first target comes, which is also the
	// order of the report.
	const (
		own = iota
		onLink
		remote
	)
	var groups [3][]int
	var order []int
	for i, a := range s.targets {
		kind := remote
		switch {
		case s.own[a]:
			kind = own
		case links[i].Index != 0:
			kind = onLink
		}
		if len(groups[kind]) == 0 {
			order = append(order, kind)
		}
		groups[kind] = append(groups[kind], i)
	}
	s.discOrder = s.discOrder[:0]
	for _, kind := range order {
		s.discOrder = append(s.discOrder, groups[kind]...)
	}
	for _, i := range groups[own] {
		hosts[i].up, hosts[i].why = true, "localhost-response"
	}
	for _, gi := range order {
		group := groups[gi]
		if gi == own {
			continue
		}
		addrs := make([]netip.Addr, len(group))
		for j, i := range group {
			addrs[j] = s.targets[i]
		}
		name, ports := "Ping Scan", d.probes()
		if gi == onLink {
			name, ports = "ARP Ping Scan", 1
			if addrs[0].Is6() {
				name = "ND Ping Scan"
			}
		}
		s.verbose.phase(name, addrs, ports)
		err := s.discoverGroup(ctx, d, hosts, group, links)
		if errors.Is(err, os.ErrPermission) && (s.opts.Type == Connect || s.opts.PingOnly) {
			// No raw sockets: nmap's unprivileged discovery, a connect()
			// to ports 80 and 443.
			err = s.connectDiscovery(ctx, hosts, group)
		}
		if err != nil {
			return nil, err
		}
		s.verbose.completed(name, uint64(len(group)), "hosts")
		if ctx.Err() != nil {
			break
		}
	}
	return hosts, nil
}

// discoverGroup asks the targets of group (indexes into s.targets): those
// in links on their link, the others with IP probes. Its sockets are its
// own, closed when it returns.
func (s *scanner) discoverGroup(ctx context.Context, d Discovery, hosts []hostState, group []int, links map[int]neighbour.Link) error {
	net := s.opts.Network
	if net == nil {
		net = rawsock.System
	}
	type socks struct {
		src            netip.Addr
		tcp, udp, icmp rawsock.Conn
	}
	conns := map[int]*socks{}
	asks := map[[2]int]*neighbour.Conn{} // by family and link
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		// Closing the sockets ends the readers' reads.
		close(stop)
		for _, c := range conns {
			for _, conn := range []rawsock.Conn{c.tcp, c.udp, c.icmp} {
				if conn != nil {
					conn.Close()
				}
			}
		}
		for _, c := range asks {
			c.Close()
		}
		wg.Wait()
	}()
	family := func(a netip.Addr) int {
		if a.Is6() {
			return 6
		}
		return 4
	}
	err := rawsock.InNetns(s.opts.Netns, func() error {
		for _, i := range group {
			a := s.targets[i]
			fam := family(a)
			if l, ok := links[i]; ok {
				key := [2]int{fam, l.Index}
				if asks[key] == nil {
					c, err := neighbour.Listen(fam, l)
					if errors.Is(err, os.ErrPermission) {
						return &rawsock.PrivilegeError{Op: "open a packet socket for ARP/ND ping", Fix: rawsock.FixRaw(), Err: err}
					}
					if err != nil {
						return err
					}
					asks[key] = c
				}
				continue
			}
			if conns[fam] != nil {
				continue
			}
			src, err := s.sourceFor(net, fam)
			if err != nil {
				return report.Usagef("%v", err)
			}
			c := &socks{src: src}
			conns[fam] = c
			o := rawsock.Options{Iface: s.opts.Iface, Source: src, NoTxTimestamps: true, RecvBuffer: 4 << 20}
			if c.tcp, err = net.ListenIP(rawsock.IPConfig{Family: fam, Protocol: probe.ProtoTCP, Options: o, Filter: rawsock.PortFilter(fam, 2, s.sport)}); err != nil {
				return err
			}
			if len(d.UDP) > 0 {
				if c.udp, err = net.ListenIP(rawsock.IPConfig{Family: fam, Protocol: probe.ProtoUDP, Options: o, Filter: rawsock.PortFilter(fam, 2, s.sport)}); err != nil {
					return err
				}
			}
			if c.icmp, err = net.ListenICMP(rawsock.ICMPConfig{Family: fam, Mode: rawsock.Privileged, ID: int(s.sport), Options: o}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	answers := make(chan discoveryAnswer, 1024)
	for fam, c := range conns {
		for _, r := range []struct {
			conn rawsock.Conn
			kind int
		}{{c.tcp, probe.ProtoTCP}, {c.udp, probe.ProtoUDP}, {c.icmp, 0}} {
			if r.conn == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.readDiscovery(r.conn, fam, r.kind, answers, stop)
			}()
		}
	}
	for key, c := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readNeighbours(c, key[0] == 6, answers, stop)
		}()
	}
	win := newWindow(s.opts)
	pace := newPace(s.opts)
	start := time.Now()
	buf := make([]byte, 0, 64)
	// ARP and ND are asked up to three times, as nmap's ARP ping does.
	rounds := 2
	if len(asks) > 0 {
		rounds = 3
	}
	for round := 0; round < rounds; round++ {
		sentAny := false
		for _, i := range group {
			if hosts[i].up || hosts[i].down {
				continue
			}
			a := s.targets[i]
			fam := family(a)
			hosts[i].sent = time.Now()
			wait := func() {
				for now := int64(time.Since(start)); !pace.may(now, true, true); now = int64(time.Since(start)) {
					time.Sleep(pace.wait(now))
				}
				pace.sent(int64(time.Since(start)))
				s.sent.Add(1)
				sentAny = true
			}
			if l, ok := links[i]; ok {
				wait()
				if n, err := asks[[2]int{fam, l.Index}].Ask(a, l.Src); err == nil {
					s.verbose.sentPacket(n)
				}
				s.takeAnswers(hosts, answers, &win)
				continue
			}
			c := conns[fam]
			send := func(conn rawsock.Conn, b []byte) {
				wait()
				s.verbose.sent(a, len(b))
				if _, err := conn.WriteToTTL(b, a, 0); errors.Is(err, unix.EPERM) {
					s.localDrops.Add(1) // a local firewall rule: said at the end
				}
				// Any other refusal is an unanswered probe.
			}
			seq := uint16(i)
			if d.Echo {
				send(c.icmp, probe.ICMPEcho(buf[:0], fam, c.src, a, s.sport, seq, 0, 10))
			}
			for _, p := range d.SYN {
				send(c.tcp, probe.TCPSyn(buf[:0], c.src, a, s.sport, p, s.cookie(a, p)))
			}
			for _, p := range d.ACK {
				send(c.tcp, probe.TCPAck(buf[:0], c.src, a, s.sport, p, 0, s.cookie(a, p)))
			}
			for _, p := range d.UDP {
				send(c.udp, probe.UDPWithPayload(buf[:0], c.src, a, s.sport, p, nil))
			}
			if d.Timestamp && fam == 4 {
				now := time.Now().UTC()
				ms := uint32(now.Sub(now.Truncate(24*time.Hour)) / time.Millisecond)
				send(c.icmp, probe.ICMPTimestamp(buf[:0], s.sport, seq, ms))
			}
			s.takeAnswers(hosts, answers, &win)
		}
		if !sentAny {
			break
		}
		// Wait for the answers of this round: until the probe sent last
		// has had its wait (which shrinks as answers show the round
		// trip), or every target is known.
		last := time.Now()
		timer := time.NewTimer(time.Hour)
		for !allKnown(hosts, group) {
			wait := time.Until(last.Add(win.rto()))
			if wait <= 0 {
				break
			}
			timer.Reset(wait)
			select {
			case a := <-answers:
				s.takeAnswer(hosts, a, &win)
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil
			}
		}
		timer.Stop()
	}
	// The answers to all of a host's probes come together: read those
	// still on their way for a moment, so the reason given is that of
	// the earliest probe answered (the echo, as nmap's), whichever was
	// read first. While a host's reason could still be bettered the
	// moment is at least betterWait: a loaded machine can run the echo's
	// reader that late (CI saw "reset" for nmap's "echo-reply").
	wait := min(max(2*win.srtt, time.Millisecond), 50*time.Millisecond)
	if d.Echo && betterable(hosts, group) {
		wait = max(wait, betterWait)
	}
	grace := time.NewTimer(wait)
	defer grace.Stop()
	for {
		select {
		case a := <-answers:
			s.takeAnswer(hosts, a, &win)
			if allKnown(hosts, group) && !betterable(hosts, group) {
				return nil
			}
			continue
		case <-grace.C:
		}
		break
	}
	return nil
}

// betterWait is how long discovery waits, at most, for an echo reply that
// would better a host's reason (see discoverGroup).
const betterWait = 25 * time.Millisecond

// betterable reports whether a host of group is up by an answer to a
// probe sent after the echo: its echo reply may still come.
func betterable(hosts []hostState, group []int) bool {
	for _, i := range group {
		if hosts[i].up && hosts[i].order > 0 {
			return true
		}
	}
	return false
}

// readNeighbours passes the ARP replies or neighbour advertisements read
// from c to the loop until stop.
func (s *scanner) readNeighbours(c *neighbour.Conn, six bool, out chan<- discoveryAnswer, stop chan struct{}) {
	why := "arp-response"
	if six {
		why = "nd-response"
	}
	for {
		a, err := c.Read()
		if err != nil {
			return
		}
		t, known := s.index.get(a.Addr.Unmap())
		if !known {
			continue
		}
		s.verbose.receivedPacket(a.Len)
		ans := discoveryAnswer{target: int(t), up: true, why: why, at: a.At, mac: strings.ToUpper(a.HW.String())}
		select {
		case out <- ans:
		case <-stop:
			return
		}
	}
}

// discovers reports whether the scan runs host discovery first: not
// with -Pn, nor where the targets must be the same in every run
// (--resume) and every shard.
func (s *scanner) discovers() bool {
	return !s.opts.SkipDiscovery && s.opts.ResumeFile == "" && s.opts.Shard.N <= 1
}

// connectDiscovery is discovery without raw sockets, as nmap's without
// privilege: a TCP connection to ports 80 and 443 of each target; one
// that is accepted (syn-ack) or refused (conn-refused) says the target
// is up.
func (s *scanner) connectDiscovery(ctx context.Context, hosts []hostState, group []int) error {
	dial, done, err := s.versionDialer()
	if err != nil {
		return err
	}
	defer done()
	wait := connectWait
	limit := make(chan struct{}, max(s.opts.Concurrency, 1))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, i := range group {
		for order, port := range []uint16{80, 443} {
			wg.Add(1)
			limit <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-limit }()
				a := s.targets[i]
				sent := time.Now()
				dctx, cancel := context.WithTimeout(ctx, wait)
				c, err := dial(dctx, netip.AddrPortFrom(a, port))
				cancel()
				why := ""
				switch {
				case err == nil:
					c.Close()
					why = "syn-ack"
				case errors.Is(err, unix.ECONNREFUSED):
					why = "conn-refused"
				default:
					return
				}
				mu.Lock()
				defer mu.Unlock()
				h := &hosts[i]
				if !h.up || order < h.order {
					h.up, h.why, h.order, h.rtt = true, why, order, time.Since(sent)
				}
			}()
		}
	}
	wg.Wait()
	return nil
}

// discoverUp runs discovery and leaves only the targets that are up to
// be scanned; with --json each target's state is written (every one
// with --all, else those up).
func (s *scanner) discoverUp(ctx context.Context) error {
	hosts, err := s.discover(ctx)
	if err != nil {
		return err
	}
	if !s.opts.PingOnly {
		// -sn lists them in its report, in order, instead.
		for i, h := range hosts {
			if !h.up {
				s.verbose.line("Nmap scan report for %s [host down]", s.targets[i])
			}
		}
	}
	s.allTargets, s.disc = s.targets, hosts
	var up []netip.Addr
	for i, h := range hosts {
		a := s.allTargets[i]
		if h.up {
			up = append(up, a)
		}
		if s.stream != nil && (h.up || s.opts.All) {
			rec := jsonHost{IP: a.String(), Up: h.up, Reason: h.why, TTL: h.ttl, RTT: report.Millis(h.rtt), MAC: h.mac}
			if !h.up && !h.down {
				rec.Reason = "no-response"
			}
			s.stream.Write("host", rec)
		}
	}
	if s.stream != nil {
		s.stream.Flush()
	}
	s.targets = up
	s.index.set(up)
	return nil
}

// jsonHost is a target's discovery record.
type jsonHost struct {
	IP     string  `json:"ip"`
	Up     bool    `json:"up"`
	Reason string  `json:"reason"`
	TTL    int     `json:"ttl"`
	RTT    float64 `json:"rtt_ms"`
	MAC    string  `json:"mac,omitempty"` // from an ARP or ND answer
}

// allKnown reports whether every target of group is known up or down.
func allKnown(hosts []hostState, group []int) bool {
	for _, i := range group {
		if !hosts[i].up && !hosts[i].down {
			return false
		}
	}
	return true
}

// takeAnswers takes the answers already queued.
func (s *scanner) takeAnswers(hosts []hostState, answers chan discoveryAnswer, win *window) {
	for {
		select {
		case a := <-answers:
			s.takeAnswer(hosts, a, win)
		default:
			return
		}
	}
}

// takeAnswer records the first answer about a target.
func (s *scanner) takeAnswer(hosts []hostState, a discoveryAnswer, win *window) {
	h := &hosts[a.target]
	if h.up || h.down {
		if h.up && a.up && a.order < h.order {
			h.why, h.ttl, h.order = a.why, a.ttl, a.order
		}
		return
	}
	h.up, h.down, h.why, h.ttl, h.order, h.mac = a.up, !a.up, a.why, a.ttl, a.order, a.mac
	if a.up {
		h.rtt = a.at.Sub(h.sent)
		win.sample(h.rtt)
	}
}

// readDiscovery passes the answers to discovery probes read from c (the
// TCP socket, or the ICMP one) to the loop until stop.
func (s *scanner) readDiscovery(c rawsock.Conn, fam int, kind int, out chan<- discoveryAnswer, stop chan struct{}) {
	b := make([]byte, 1500)
	for {
		n, meta, err := c.ReadMsg(b)
		if err != nil {
			return
		}
		at := time.Now()
		var a discoveryAnswer
		var ok bool
		switch kind {
		case probe.ProtoTCP:
			a, ok = s.discoveryTCP(b[:n], meta)
		case probe.ProtoUDP:
			a, ok = s.discoveryUDP(b[:n], meta)
		default:
			a, ok = s.discoveryICMP(fam, b[:n], meta)
		}
		if !ok {
			continue
		}
		s.verbose.received(meta.Src, n)
		a.at = at
		select {
		case out <- a:
		case <-stop:
			return
		}
	}
}

// discoveryTCP reads a SYN-ACK or RST answering a SYN or ACK ping.
func (s *scanner) discoveryTCP(b []byte, meta rawsock.Meta) (discoveryAnswer, bool) {
	h, ok := probe.ParseTCP(b)
	src := meta.Src.Unmap()
	t, known := s.index.get(src)
	if !ok || !known || h.DstPort != s.sport {
		return discoveryAnswer{}, false
	}
	c := s.cookie(src, h.SrcPort)
	switch {
	case h.Flags&(probe.FlagSYN|probe.FlagACK) == probe.FlagSYN|probe.FlagACK && h.Ack == c+1:
		return discoveryAnswer{target: int(t), up: true, why: "syn-ack", ttl: meta.TTL, order: 1}, true
	case h.Flags&probe.FlagRST != 0 && h.Ack == c+1:
		return discoveryAnswer{target: int(t), up: true, why: "reset", ttl: meta.TTL, order: 1}, true
	case h.Flags&probe.FlagRST != 0 && h.Seq == c:
		// A RST to the ACK carries its acknowledgement as its sequence.
		return discoveryAnswer{target: int(t), up: true, why: "reset", ttl: meta.TTL, order: 2}, true
	}
	return discoveryAnswer{}, false
}

// discoveryUDP reads a UDP answer to a UDP ping.
func (s *scanner) discoveryUDP(b []byte, meta rawsock.Meta) (discoveryAnswer, bool) {
	h, ok := probe.ParseUDP(b)
	t, known := s.index.get(meta.Src.Unmap())
	if !ok || !known || h.DstPort != s.sport {
		return discoveryAnswer{}, false
	}
	return discoveryAnswer{target: int(t), up: true, why: "udp-response", ttl: meta.TTL, order: 3}, true
}

// discoveryICMP reads an echo or timestamp reply, or an unreachable
// quoting one of the probes.
func (s *scanner) discoveryICMP(fam int, b []byte, meta rawsock.Meta) (discoveryAnswer, bool) {
	src := meta.Src.Unmap()
	if len(b) >= 8 && binary.BigEndian.Uint16(b[4:6]) == s.sport {
		t, known := s.index.get(src)
		switch {
		case !known:
		case fam == 4 && b[0] == 0, fam == 6 && b[0] == 129:
			return discoveryAnswer{target: int(t), up: true, why: "echo-reply", ttl: meta.TTL}, true
		case fam == 4 && b[0] == 14:
			return discoveryAnswer{target: int(t), up: true, why: "timestamp-reply", ttl: meta.TTL, order: 3}, true
		}
	}
	m, err := icmp.Parse(fam, b)
	if err != nil || !m.IsError() || m.Quote == nil {
		return discoveryAnswer{}, false
	}
	t, known := s.index.get(m.Quote.Dst.Unmap())
	if !known {
		return discoveryAnswer{}, false
	}
	if id, _, ok := m.Quote.QuotedEcho(); ok && uint16(id) != s.sport {
		return discoveryAnswer{}, false
	}
	if sp, _, ok := m.Quote.Ports(); ok && sp != s.sport {
		return discoveryAnswer{}, false
	}
	if src == m.Quote.Dst.Unmap() {
		// The target itself said unreachable (a port or protocol): it
		// is there.
		return discoveryAnswer{target: int(t), up: true, why: reasonText(fam, m.Type, m.Code), ttl: meta.TTL}, true
	}
	return discoveryAnswer{target: int(t), up: false, why: reasonText(fam, m.Type, m.Code), ttl: meta.TTL}, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
