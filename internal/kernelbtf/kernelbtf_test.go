//go:build linux

package kernelbtf

import (
	"os"
	"testing"
)

// The offsets the eBPF programs use are found, and the second read comes
// from the kept copy with the same answers.
func TestRead(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("this kernel has no BTF (/sys/kernel/btf/vmlinux)")
		}
		t.Skip("needs the kernel's BTF")
	}
	fields := []string{"sk_buff.sk", "sk_buff.head", "sock.__sk_common.skc_net.net", "net.ns.inum", "sock.__sk_common.skc_num"}
	l, err := Read(fields, []string{"skb_drop_reason"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Offsets["sk_buff.head"] == 0 || l.Offsets["net.ns.inum"] == 0 {
		t.Errorf("offsets %v", l.Offsets)
	}
	names := l.Enums["skb_drop_reason"]
	found := false
	for _, n := range names {
		found = found || n == "SKB_DROP_REASON_NETFILTER_DROP"
	}
	if !found {
		t.Errorf("skb_drop_reason has no NETFILTER_DROP: %d names", len(names))
	}
	again, err := Read(fields, []string{"skb_drop_reason"})
	if err != nil || again.Offsets["sk_buff.head"] != l.Offsets["sk_buff.head"] {
		t.Errorf("second read: %v %v", again.Offsets, err)
	}
	if _, err := Read([]string{"sk_buff.no_such_field"}, nil); err == nil {
		t.Error("a missing field was found")
	}
}
