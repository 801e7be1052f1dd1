//go:build !linux

package neighbour

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// Link is an attached Ethernet link a target is on.
type Link struct {
	Index int
	Name  string
	HW    net.HardwareAddr
	Src   netip.Addr
}

// OnLink finds no link outside Linux.
func OnLink(netip.Addr, string) (Link, bool) { return Link{}, false }

// Answer is a host's reply.
type Answer struct {
	Addr netip.Addr
	HW   net.HardwareAddr
	At   time.Time
	Len  int
}

// Conn is not available outside Linux.
type Conn struct{}

// Listen fails outside Linux.
func Listen(int, Link) (*Conn, error) { return nil, errors.New("neighbour: Linux only") }

// Ask fails outside Linux.
func (*Conn) Ask(netip.Addr, netip.Addr) (int, error) { return 0, errors.New("neighbour: Linux only") }

// Read fails outside Linux.
func (*Conn) Read() (Answer, error) { return Answer{}, errors.New("neighbour: Linux only") }

// Close does nothing outside Linux.
func (*Conn) Close() error { return nil }

// Routes is not available outside Linux.
type Routes struct{}

// ReadRoutes fails outside Linux.
func ReadRoutes() (*Routes, error) { return nil, errors.New("neighbour: Linux only") }

// OnLink finds no link outside Linux.
func (*Routes) OnLink(netip.Addr, string) (Link, bool) { return Link{}, false }
