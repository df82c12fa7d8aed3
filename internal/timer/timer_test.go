package timer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQueueOrderDedupDelete(t *testing.T) {
	q := NewQueue[int, int]()
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[Timer[int, int]]bool{}
	for i := 0; i < 2000; i++ {
		tm := Timer[int, int]{TS: int64(rng.IntN(500)), Key: rng.IntN(20), NS: rng.IntN(3)}
		added := q.Add(tm)
		if added == want[tm] {
			t.Fatalf("Add(%v) = %v with %v already present", tm, added, want[tm])
		}
		want[tm] = true
		if rng.IntN(4) == 0 {
			q.Delete(tm)
			delete(want, tm)
		}
	}
	if q.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", q.Len(), len(want))
	}
	var got []int64
	for now := int64(0); now < 600; now += 37 {
		for {
			tm, ok := q.PopDue(now)
			if !ok {
				break
			}
			if tm.TS > now || !want[tm] {
				t.Fatalf("popped %v at %d", tm, now)
			}
			delete(want, tm)
			got = append(got, tm.TS)
		}
	}
	if len(want) != 0 || q.Len() != 0 {
		t.Fatalf("%d timers never popped", len(want))
	}
	if !slices.IsSorted(got) {
		t.Fatal("timers popped out of order")
	}
}
