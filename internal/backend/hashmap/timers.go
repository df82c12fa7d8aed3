package hashmap

import (
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
)

// Timers is the table view of a timer queue: it is the queue's set of
// registered timers, kept in shards by key hash like every table, so that
// timers are snapshotted with the keyed state they belong to (and by the
// same hash ranges).
type Timers[K, N comparable] struct {
	b     *Backend[K]
	name  string
	q     *timer.Queue[K, N]
	nsSer serde.Serializer[N]
	st    store[timer.Timer[K, N], struct{}]
	n     int // timers registered
	// copies is set when the key and namespace serializers copy what
	// they read (see copies).
	copies bool
}

// NewTimers registers q, which must be empty, as the timer table named name
// ("timers/event", say): q keeps its registered timers in the table.
func NewTimers[K, N comparable](b *Backend[K], name string, q *timer.Queue[K, N], nsSer serde.Serializer[N]) (*Timers[K, N], error) {
	t := &Timers[K, N]{b: b, name: name, q: q, nsSer: nsSer, copies: b.keyCopies && copies(nsSer)}
	t.st = newStore(func(tm timer.Timer[K, N]) uint64 { return b.hasher(tm.Key) }, t.encode, nil, nil)
	if err := b.register(t); err != nil {
		return nil, err
	}
	q.UseSet(t)
	return t, nil
}

// Name implements backend.Table.
func (t *Timers[K, N]) Name() string { return t.name }

// Kind implements backend.Table.
func (t *Timers[K, N]) Kind() backend.Kind { return backend.KindTimers }

// Len implements backend.Table and timer.Set.
func (t *Timers[K, N]) Len() int { return t.n }

// Has implements timer.Set.
func (t *Timers[K, N]) Has(tm timer.Timer[K, N]) bool {
	_, ok := t.st.get(t.b.hasher(tm.Key), tm)
	return ok
}

// Add implements timer.Set.
func (t *Timers[K, N]) Add(tm timer.Timer[K, N]) bool {
	h := t.b.hasher(tm.Key)
	if _, ok := t.st.get(h, tm); ok {
		return false // registered: no need to settle the shard
	}
	sh := t.st.writable(h)
	sh.m[tm] = struct{}{}
	t.n++
	t.st.grown(sh)
	return true
}

// Delete implements timer.Set.
func (t *Timers[K, N]) Delete(tm timer.Timer[K, N]) {
	h := t.b.hasher(tm.Key)
	if _, ok := t.st.get(h, tm); ok {
		delete(t.st.writable(h).m, tm)
		t.n--
	}
}

// All implements timer.Set.
func (t *Timers[K, N]) All(fn func(timer.Timer[K, N])) {
	t.st.shards(func(sh *shard[timer.Timer[K, N], struct{}]) {
		for tm := range sh.m {
			fn(tm)
		}
	})
}

// Capture implements backend.Table.
func (t *Timers[K, N]) Capture() backend.View { return t.st.capture(0) }

// Entries implements backend.Table. Each timer is one entry whose value is
// its timestamp, 8 bytes big-endian.
func (t *Timers[K, N]) Entries(r keyspace.Range, fn func(backend.Entry) error) error {
	return viewEntries(t.Capture(), r, fn)
}

// Reserve implements backend.Reserver.
func (t *Timers[K, N]) Reserve(n int, r keyspace.Range) { t.st.reserve(n, r.Lo, r.Hi) }

// encode encodes a shard's timers; it may run on any goroutine.
func (t *Timers[K, N]) encode(out *encoded, m map[timer.Timer[K, N]]struct{}, _ int64) {
	for tm := range m {
		out.begin(t.b.hasher(tm.Key))
		out.arena = t.b.keySer.Append(out.arena, tm.Key)
		out.markKey()
		out.arena = t.nsSer.Append(out.arena, tm.NS)
		out.markNS()
		out.arena = binary.BigEndian.AppendUint64(out.arena, uint64(tm.TS))
		out.markValue()
	}
}

// Restore implements backend.Table.
func (t *Timers[K, N]) Restore(e backend.Entry) error {
	if !t.copies {
		// The key or namespace read may point into e, which is valid
		// only during the call.
		e = cloneEntry(e)
	}
	k, n, err := t.b.keySer.Read(e.Key)
	if err != nil || n != len(e.Key) {
		return fmt.Errorf("timers %q: undecodable key %x: %v", t.name, e.Key, errOr(err, n, len(e.Key)))
	}
	ns, n, err := t.nsSer.Read(e.Namespace)
	if err != nil || n != len(e.Namespace) {
		return fmt.Errorf("timers %q: undecodable namespace %x: %v", t.name, e.Namespace, errOr(err, n, len(e.Namespace)))
	}
	if len(e.Value) != 8 {
		return fmt.Errorf("timers %q: timestamp of %d bytes, want 8", t.name, len(e.Value))
	}
	t.q.Add(timer.Timer[K, N]{TS: int64(binary.BigEndian.Uint64(e.Value)), Key: k, NS: ns})
	return nil
}
