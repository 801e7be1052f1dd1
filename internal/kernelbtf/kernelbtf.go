//go:build linux

// Package kernelbtf reads what rawkit's eBPF programs need to know of
// the running kernel from its BTF (/sys/kernel/btf/vmlinux): the byte
// offsets of structure fields and the names of an enum's values. Parsing
// the BTF takes about 30 ms and a few MB, so what was read is kept in
// /run/rawkit, named for the kernel's release, version and BTF size (a new
// kernel is read anew).
package kernelbtf

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Layout is what was read.
type Layout struct {
	Offsets map[string]uint32            // "struct.field.field" -> bytes
	Enums   map[string]map[uint32]string // enum name -> value -> name
}

// Read returns the offsets of fields ("sk_buff.sk",
// "sock.__sk_common.skc_net.net": a struct, then members, looking into
// anonymous structs and unions) and the values of enums.
func Read(fields, enums []string) (Layout, error) {
	l := Layout{Offsets: map[string]uint32{}, Enums: map[string]map[uint32]string{}}
	cache := cacheName()
	if cache != "" {
		if b, err := os.ReadFile(cache); err == nil && json.Unmarshal(b, &l) == nil && l.has(fields, enums) {
			return l, nil
		}
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return l, fmt.Errorf("no kernel BTF: %w", err)
	}
	for _, f := range fields {
		if _, ok := l.Offsets[f]; ok {
			continue
		}
		off, err := offset(spec, f)
		if err != nil {
			return l, err
		}
		l.Offsets[f] = off
	}
	for _, name := range enums {
		if _, ok := l.Enums[name]; ok {
			continue
		}
		var e *btf.Enum
		if err := spec.TypeByName(name, &e); err != nil {
			return l, fmt.Errorf("BTF has no enum %s: %w", name, err)
		}
		values := map[uint32]string{}
		for _, v := range e.Values {
			values[uint32(v.Value)] = v.Name
		}
		l.Enums[name] = values
	}
	if cache != "" {
		if b, err := json.Marshal(l); err == nil && os.MkdirAll("/run/rawkit", 0o755) == nil {
			// Written whole or not at all: another run may read it.
			tmp := fmt.Sprintf("%s.%d", cache, os.Getpid())
			if os.WriteFile(tmp, b, 0o644) == nil {
				os.Rename(tmp, cache)
			}
		}
	}
	return l, nil
}

func (l Layout) has(fields, enums []string) bool {
	for _, f := range fields {
		if _, ok := l.Offsets[f]; !ok {
			return false
		}
	}
	for _, e := range enums {
		if _, ok := l.Enums[e]; !ok {
			return false
		}
	}
	return true
}

func cacheName() string {
	var uts unix.Utsname
	var st unix.Stat_t
	if unix.Uname(&uts) != nil || unix.Stat("/sys/kernel/btf/vmlinux", &st) != nil {
		return ""
	}
	// (sysfs gives no stable time: the kernel's build is named by its
	// release and version string.)
	h := fnv.New64a()
	h.Write([]byte(unix.ByteSliceToString(uts.Version[:])))
	return fmt.Sprintf("/run/rawkit/btf-%s-%d-%x.json", unix.ByteSliceToString(uts.Release[:]), st.Size, h.Sum64())
}

func offset(spec *btf.Spec, path string) (uint32, error) {
	parts := strings.Split(path, ".")
	var s *btf.Struct
	if err := spec.TypeByName(parts[0], &s); err != nil {
		return 0, fmt.Errorf("BTF has no struct %s: %w", parts[0], err)
	}
	var t btf.Type = s
	var total uint32
	for _, name := range parts[1:] {
		bits, next, ok := member(t, name)
		if !ok {
			return 0, fmt.Errorf("BTF: no %s", path)
		}
		total += bits / 8
		t = next
	}
	return total, nil
}

// member finds name in t, looking into anonymous structs and unions; its
// offset in bits and its type (typedefs and qualifiers removed).
func member(t btf.Type, name string) (uint32, btf.Type, bool) {
	var members []btf.Member
	switch t := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	default:
		return 0, nil, false
	}
	for _, m := range members {
		if m.Name == name {
			return uint32(m.Offset), btf.UnderlyingType(m.Type), true
		}
	}
	for _, m := range members {
		if m.Name == "" {
			if bits, typ, ok := member(m.Type, name); ok {
				return uint32(m.Offset) + bits, typ, true
			}
		}
	}
	return 0, nil, false
}
