package rawsock

import (
	"errors"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LinkState is whether an interface's link is up, as libpcap reports it
// in its device list (pcap_findalldevs): through ethtool(8)'s
// ETHTOOL_GLINK.
type LinkState int

const (
	LinkUnknown       LinkState = iota // the driver did not say
	LinkConnected                      // carrier
	LinkDisconnected                   // no carrier
	LinkNotApplicable                  // a loopback, or a device without ethtool's link
)

// Link reports the link state of interface name, a loopback (by its
// flags or its ARPHRD type) not applicable.
func Link(name string, loopback bool) LinkState {
	if loopback {
		return LinkNotApplicable
	}
	if t, err := os.ReadFile("/sys/class/net/" + name + "/type"); err == nil && strings.TrimSpace(string(t)) == "772" { // ARPHRD_LOOPBACK
		return LinkNotApplicable
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return LinkUnknown
	}
	defer unix.Close(fd)
	// struct ifreq: the name, then a pointer to struct ethtool_value.
	value := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GLINK}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte // the rest of the union
	}
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = unsafe.Pointer(&value)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	switch {
	case errno == 0 && value.data != 0:
		return LinkConnected
	case errno == 0:
		return LinkDisconnected
	case errors.Is(errno, unix.EOPNOTSUPP) || errors.Is(errno, unix.EINVAL):
		return LinkNotApplicable
	}
	return LinkUnknown
}
