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

// Queue is an indexed min-heap of timers without duplicates.
type Queue[K, N comparable] struct {
	h   []Timer[K, N]
	pos map[Timer[K, N]]int
}

// NewQueue returns an empty queue.
func NewQueue[K, N comparable]() *Queue[K, N] {
	return &Queue[K, N]{pos: map[Timer[K, N]]int{}}
}

// Len returns the number of timers.
func (q *Queue[K, N]) Len() int { return len(q.h) }

// Add registers t; it reports false if t was already registered.
func (q *Queue[K, N]) Add(t Timer[K, N]) bool {
	if _, ok := q.pos[t]; ok {
		return false
	}
	q.h = append(q.h, t)
	q.pos[t] = len(q.h) - 1
	q.up(len(q.h) - 1)
	return true
}

// Delete removes t if registered.
func (q *Queue[K, N]) Delete(t Timer[K, N]) {
	i, ok := q.pos[t]
	if !ok {
		return
	}
	last := len(q.h) - 1
	if i != last {
		q.swap(i, last)
	}
	q.h = q.h[:last]
	delete(q.pos, t)
	if i != last {
		q.down(i)
		q.up(i)
	}
}

// Peek returns the earliest timer.
func (q *Queue[K, N]) Peek() (Timer[K, N], bool) {
	if len(q.h) == 0 {
		return Timer[K, N]{}, false
	}
	return q.h[0], true
}

// PopDue removes and returns the earliest timer if its time is at or before
// now.
func (q *Queue[K, N]) PopDue(now int64) (Timer[K, N], bool) {
	if len(q.h) == 0 || q.h[0].TS > now {
		return Timer[K, N]{}, false
	}
	t := q.h[0]
	q.Delete(t)
	return t, true
}

// All calls fn for every timer, in no particular order.
func (q *Queue[K, N]) All(fn func(Timer[K, N])) {
	for _, t := range q.h {
		fn(t)
	}
}

func (q *Queue[K, N]) less(i, j int) bool { return q.h[i].TS < q.h[j].TS }

func (q *Queue[K, N]) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.pos[q.h[i]] = i
	q.pos[q.h[j]] = j
}

func (q *Queue[K, N]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *Queue[K, N]) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.swap(i, m)
		i = m
	}
}
