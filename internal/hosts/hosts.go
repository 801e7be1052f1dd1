// Package hosts turns what a user types as a target — an IP address
// literal or a host name — into one address of the wanted family, with
// the usage errors (exit 2) every rawkit tool gives for bad input.
package hosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/rawkit/rawkit/report"
)

// Resolver looks a host name up, as net.Resolver.LookupNetIP does.
type Resolver func(ctx context.Context, network, host string) ([]netip.Addr, error)

// Lookup returns the address host names: itself when it is a literal,
// else the first address the resolver (nil: the system's) gives. family
// 4 or 6 demands that family; 0 takes either. Zoned literals are refused:
// an interface flag says where to send instead.
func Lookup(ctx context.Context, host string, family int, resolve Resolver) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if family == 4 && !a.Is4() || family == 6 && !a.Is6() {
			return a, report.Usagef("%s is not an IPv%d address", host, family)
		}
		if a.Zone() != "" {
			return a, report.Usagef("%s: zoned addresses are not supported; name the interface instead", host)
		}
		return a, nil
	}
	network := "ip"
	if family != 0 {
		network = fmt.Sprintf("ip%d", family)
	}
	if resolve == nil {
		resolve = net.DefaultResolver.LookupNetIP
	}
	addrs, err := resolve(ctx, network, host)
	if err != nil || len(addrs) == 0 {
		reason := "Name or service not known"
		var dns *net.DNSError
		switch {
		case errors.As(err, &dns) && dns.IsNotFound:
		case errors.As(err, &dns):
			reason = "Temporary failure in name resolution"
		case family != 0:
			// The name may have addresses of the other family only.
			if other, oerr := resolve(ctx, "ip", host); oerr == nil && len(other) > 0 {
				reason = "Address family for hostname not supported"
			}
		}
		return netip.Addr{}, &report.Error{Code: report.ExitUsage, Err: &LookupError{Host: host, Reason: reason, Err: err}}
	}
	return addrs[0].Unmap(), nil
}

// LookupError says a host name gave no address, in getaddrinfo(3)'s
// words (gai_strerror), which the classic tools print and scripts grep
// for: "Name or service not known", "Temporary failure in name
// resolution", "Address family for hostname not supported".
type LookupError struct {
	Host, Reason string
	Err          error // the resolver's own
}

func (e *LookupError) Error() string { return e.Host + ": " + e.Reason }
func (e *LookupError) Unwrap() error { return e.Err }

// Name is a's host name by reverse lookup (the hosts file, then DNS),
// without its trailing dot, or a itself when it has none or the lookup
// takes longer than two seconds: what getnameinfo(3) gives iputils.
func Name(ctx context.Context, a netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		return a.String()
	}
	return strings.TrimSuffix(names[0], ".")
}
