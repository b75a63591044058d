package admin

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestTopGroups: the max fullest groups, ties by name, whatever max is.
func TestTopGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := map[string]int{}
	for i := range 1000 {
		m[fmt.Sprintf("g%d", i)] = r.IntN(20) // many ties
	}
	var want []Group
	for name, n := range m {
		want = append(want, Group{Name: name, Members: n})
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].Members != want[j].Members {
			return want[i].Members > want[j].Members
		}
		return want[i].Name < want[j].Name
	})
	for _, max := range []int{1, 3, 500, 1000, 5000} {
		got := topGroups(m, max)
		if w := want[:min(max, len(want))]; !slices.Equal(got, w) {
			t.Errorf("topGroups(%d): %d groups, first %v; want %d, first %v", max, len(got), got[:min(3, len(got))], len(w), w[:min(3, len(w))])
		}
	}
}

// BenchmarkTopGroups: the 500 fullest of 100,000 groups, once a second per hub
// while a page is open.
func BenchmarkTopGroups(b *testing.B) {
	m := map[string]int{}
	for i := range 100_000 {
		m[fmt.Sprintf("group-%06d", i)] = i % 7
	}
	b.ReportAllocs()
	for b.Loop() {
		topGroups(m, DefaultMaxGroups)
	}
}
