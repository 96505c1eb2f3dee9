package products

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// topViews counts views per product over a sliding window of one-minute
// slots and reports the most viewed. It replaces reference 002's
// product_views_total{product_id}, an unbounded label: memory is bounded by
// the catalog size times the slots, and the exported gauge by n series.
type topViews struct {
	mu    sync.Mutex
	slots []map[string]int64 // ring of per-minute counts
	start []int64            // minute each slot holds
	now   func() time.Time
}

func newTopViews(minutes int, now func() time.Time) *topViews {
	t := &topViews{slots: make([]map[string]int64, minutes), start: make([]int64, minutes), now: now}
	for i := range t.slots {
		t.slots[i] = map[string]int64{}
	}
	return t
}

func (t *topViews) slot(minute int64) map[string]int64 {
	i := int(minute % int64(len(t.slots)))
	if t.start[i] != minute {
		t.start[i] = minute
		clear(t.slots[i])
	}
	return t.slots[i]
}

// Add counts one view of sku.
func (t *topViews) Add(sku string) {
	t.mu.Lock()
	t.slot(t.now().Unix() / 60)[sku]++
	t.mu.Unlock()
}

type viewCount struct {
	SKU   string `json:"sku"`
	Views int64  `json:"views"`
}

// Top returns the n most viewed products in the window, most viewed first.
func (t *topViews) Top(n int) []viewCount {
	t.mu.Lock()
	minute := t.now().Unix() / 60
	sum := map[string]int64{}
	for i, s := range t.slots {
		if minute-t.start[i] < int64(len(t.slots)) {
			for sku, c := range s {
				sum[sku] += c
			}
		}
	}
	t.mu.Unlock()
	out := make([]viewCount, 0, len(sum))
	for sku, c := range sum {
		out = append(out, viewCount{sku, c})
	}
	slices.SortFunc(out, func(a, b viewCount) int {
		return cmp.Or(cmp.Compare(b.Views, a.Views), cmp.Compare(a.SKU, b.SKU))
	})
	return out[:min(n, len(out))]
}
