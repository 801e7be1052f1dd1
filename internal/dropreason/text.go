package dropreason

import (
	"fmt"
	"sort"
	"strings"
)

// Text is the counts as one phrase: "12 NETFILTER_DROP, 3 NEIGH_FAILED".
func Text(counts map[string]uint64) string {
	var names []string
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%d %s", counts[n], n))
	}
	return strings.Join(parts, ", ")
}
