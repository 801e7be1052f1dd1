//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/rawkit/rawkit/internal/netlab"
	"github.com/rawkit/rawkit/probe"
	"golang.org/x/sys/unix"
)

// synFloor is the least time any scanner could take to put one SYN to each
// of the 65535 ports of dst through the lab: IPPROTO_RAW sockets (which
// receive nothing), one sending thread per core, sendmmsg batches of 64,
// no answer read and no bookkeeping. On veth each send carries the SYN
// through the routers, the answer and its delivery in the sender's own
// softirq, so this is the lab's own cost of a -p- scan.
func synFloor(lab *netlab.Lab, src, dst netip.Addr) (time.Duration, error) {
	threads := runtime.NumCPU()
	fds := make([]int, threads)
	err := lab.InNamespace(lab.Client, func() error {
		for i := range fds {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
			if err != nil {
				return err
			}
			fds[i] = fd
		}
		return nil
	})
	defer func() {
		for _, fd := range fds {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	}()
	if err != nil {
		return 0, err
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
	errs := make(chan error, threads)
	start := time.Now()
	var wg sync.WaitGroup
	for t, fd := range fds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			const batch = 64
			msgs := make([]unix.Mmsghdr, batch)
			iovs := make([]unix.Iovec, batch)
			bufs := make([][]byte, batch)
			for port := 1 + t; port <= 65535; {
				k := 0
				for ; k < batch && port <= 65535; k++ {
					b := probe.IPv4Header(bufs[k][:0], src, dst, probe.ProtoTCP, 20)
					bufs[k] = probe.TCPSyn(b, src, dst, 61000, uint16(port), uint32(port))
					iovs[k] = unix.Iovec{Base: &bufs[k][0]}
					iovs[k].SetLen(len(bufs[k]))
					msgs[k].Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sa)), Namelen: unix.SizeofSockaddrInet4, Iov: &iovs[k]}
					msgs[k].Hdr.SetIovlen(1)
					port += threads
				}
				for off := 0; off < k; {
					n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(k-off), 0, 0, 0)
					switch {
					case e == unix.ENOBUFS || e == unix.EAGAIN:
						continue
					case e != 0:
						errs <- fmt.Errorf("sendmmsg: %w", e)
						return
					}
					off += int(n)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return elapsed, nil
}
