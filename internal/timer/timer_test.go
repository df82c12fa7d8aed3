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

// TestDeleteReaddFiresOnce checks the lazy deletion: a timer deleted and
// registered again fires exactly once, and a deleted one never.
func TestDeleteReaddFiresOnce(t *testing.T) {
	q := NewQueue[int, int]()
	a := Timer[int, int]{TS: 5, Key: 1}
	b := Timer[int, int]{TS: 3, Key: 2}
	q.Add(a)
	q.Add(b)
	q.Delete(a)
	q.Add(a)
	q.Delete(b)
	q.Delete(a)
	q.Add(a)
	var got []Timer[int, int]
	for {
		tm, ok := q.PopDue(10)
		if !ok {
			break
		}
		got = append(got, tm)
	}
	if len(got) != 1 || got[0] != a || q.Len() != 0 {
		t.Fatalf("popped %v, Len %d", got, q.Len())
	}
	// Popped timers can be registered again.
	if !q.Add(a) {
		t.Fatal("re-adding a fired timer failed")
	}
}

func TestCompactionKeepsRegisteredTimers(t *testing.T) {
	q := NewQueue[int, int]()
	for i := 0; i < 1000; i++ {
		q.Add(Timer[int, int]{TS: int64(i), Key: i})
	}
	for i := 0; i < 1000; i++ {
		if i%10 != 0 {
			q.Delete(Timer[int, int]{TS: int64(i), Key: i})
		}
	}
	n := 0
	for {
		tm, ok := q.PopDue(1 << 40)
		if !ok {
			break
		}
		if tm.Key%10 != 0 {
			t.Fatalf("deleted timer %v fired", tm)
		}
		n++
	}
	if n != 100 {
		t.Fatalf("%d timers fired, want 100", n)
	}
}

func BenchmarkAddPop(b *testing.B) {
	q := NewQueue[int64, [2]int64]()
	for i := 0; i < b.N; i++ {
		q.Add(Timer[int64, [2]int64]{TS: int64(i % 1000), Key: int64(i % 5000)})
		if i%1000 == 999 {
			for {
				if _, ok := q.PopDue(int64(1 << 40)); !ok {
					break
				}
			}
		}
	}
}
