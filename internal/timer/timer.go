// Package timer is the queue of a keyed operator's timers: each timer is a
// (timestamp, key, namespace) triple, registered at most once, deletable, and
// popped in timestamp order as time advances.
//
// A Queue belongs to one operator subtask and is used from its goroutine.
package timer

// Timer fires for Key in namespace NS when time reaches TS.
type Timer[K, N comparable] struct {
	TS  int64
	Key K
	NS  N
}

// Queue is a min-heap of timers without duplicates. Registration is tracked
// in a Set; deletion only leaves the set, and the heap drops entries that
// are no longer registered when they reach its top. Sifting therefore never
// touches the set, which keeps Add and PopDue cheap.
type Queue[K, N comparable] struct {
	h   []Timer[K, N]
	set Set[K, N]
}

// Set is where a Queue registers its timers. The set, not the heap, is the
// queue's state: a keyed state backend provides one so that timers are
// snapshotted with the keyed state they belong to.
type Set[K, N comparable] interface {
	Has(Timer[K, N]) bool
	// Add registers t and reports whether it was not registered yet.
	Add(Timer[K, N]) bool
	Delete(Timer[K, N])
	Len() int
	// All calls fn for every timer in the set, in no particular order.
	All(fn func(Timer[K, N]))
}

// NewQueue returns an empty queue that registers timers in a Go map.
func NewQueue[K, N comparable]() *Queue[K, N] {
	return &Queue[K, N]{set: mapSet[K, N]{}}
}

// UseSet makes q register its timers in s from now on. q must be empty.
func (q *Queue[K, N]) UseSet(s Set[K, N]) {
	if q.set.Len() > 0 || len(q.h) > 0 {
		panic("timer: UseSet on a queue that holds timers")
	}
	q.set = s
}

// Len returns the number of registered timers.
func (q *Queue[K, N]) Len() int { return q.set.Len() }

// Add registers t; it reports false if t was already registered.
func (q *Queue[K, N]) Add(t Timer[K, N]) bool {
	if !q.set.Add(t) {
		return false
	}
	q.h = append(q.h, t)
	q.up(len(q.h) - 1)
	return true
}

// Delete unregisters t if registered.
func (q *Queue[K, N]) Delete(t Timer[K, N]) {
	q.set.Delete(t)
	// Keep stale entries from piling up when most timers are deleted.
	if len(q.h) > 64 && len(q.h) > 4*q.set.Len() {
		q.compact()
	}
}

// Peek returns the earliest registered timer.
func (q *Queue[K, N]) Peek() (Timer[K, N], bool) {
	q.dropStale()
	if len(q.h) == 0 {
		return Timer[K, N]{}, false
	}
	return q.h[0], true
}

// PopDue removes and returns the earliest timer if its time is at or before
// now.
func (q *Queue[K, N]) PopDue(now int64) (Timer[K, N], bool) {
	q.dropStale()
	if len(q.h) == 0 || q.h[0].TS > now {
		return Timer[K, N]{}, false
	}
	t := q.pop()
	q.set.Delete(t)
	return t, true
}

// All calls fn for every registered timer, in no particular order.
func (q *Queue[K, N]) All(fn func(Timer[K, N])) { q.set.All(fn) }

// dropStale pops unregistered entries off the top of the heap. An entry is
// stale if it is no longer registered, or if a copy of it is (after a
// delete and re-add) — the copy left in the set is then popped first only
// when it reaches the top, and popping removes it from the set, so every
// registered timer fires exactly once.
func (q *Queue[K, N]) dropStale() {
	for len(q.h) > 0 {
		if q.set.Has(q.h[0]) {
			return
		}
		q.pop()
	}
}

func (q *Queue[K, N]) pop() Timer[K, N] {
	t := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = Timer[K, N]{}
	q.h = q.h[:last]
	if last > 0 {
		q.down(0)
	}
	return t
}

// compact rebuilds the heap from the registered timers.
func (q *Queue[K, N]) compact() {
	q.h = q.h[:0]
	q.set.All(func(t Timer[K, N]) { q.h = append(q.h, t) })
	for i := len(q.h)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q *Queue[K, N]) up(i int) {
	h := q.h
	for i > 0 {
		p := (i - 1) / 2
		if h[p].TS <= h[i].TS {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *Queue[K, N]) down(i int) {
	h := q.h
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].TS < h[l].TS {
			m = r
		}
		if h[i].TS <= h[m].TS {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// mapSet is the Set of a queue outside keyed state.
type mapSet[K, N comparable] map[Timer[K, N]]struct{}

func (s mapSet[K, N]) Has(t Timer[K, N]) bool { _, ok := s[t]; return ok }
func (s mapSet[K, N]) Add(t Timer[K, N]) bool {
	if _, ok := s[t]; ok {
		return false
	}
	s[t] = struct{}{}
	return true
}
func (s mapSet[K, N]) Delete(t Timer[K, N]) { delete(s, t) }
func (s mapSet[K, N]) Len() int             { return len(s) }
func (s mapSet[K, N]) All(fn func(Timer[K, N])) {
	for t := range s {
		fn(t)
	}
}
