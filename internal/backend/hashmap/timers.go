package hashmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
)

// Timers is the table view of a timer queue, so that timers are snapshotted
// with the keyed state they belong to (and by the same hash ranges).
type Timers[K, N comparable] struct {
	b     *Backend[K]
	name  string
	q     *timer.Queue[K, N]
	nsSer serde.Serializer[N]
}

// NewTimers registers q as the timer table named name ("timers/event",
// say).
func NewTimers[K, N comparable](b *Backend[K], name string, q *timer.Queue[K, N], nsSer serde.Serializer[N]) (*Timers[K, N], error) {
	t := &Timers[K, N]{b: b, name: name, q: q, nsSer: nsSer}
	return t, b.register(t)
}

// Name implements backend.Table.
func (t *Timers[K, N]) Name() string { return t.name }

// Kind implements backend.Table.
func (t *Timers[K, N]) Kind() backend.Kind { return backend.KindTimers }

// Len implements backend.Table.
func (t *Timers[K, N]) Len() int { return t.q.Len() }

// Entries implements backend.Table. Each timer is one entry whose value is
// its timestamp, 8 bytes big-endian.
func (t *Timers[K, N]) Entries(r keyspace.Range, fn func(backend.Entry) error) error {
	var es []backend.Entry
	t.q.All(func(tm timer.Timer[K, N]) {
		h := t.b.hasher(tm.Key)
		if !r.Contains(h) {
			return
		}
		es = append(es, backend.Entry{
			Hash:      h,
			Key:       t.b.keySer.Append(nil, tm.Key),
			Namespace: t.nsSer.Append(nil, tm.NS),
			Value:     binary.BigEndian.AppendUint64(nil, uint64(tm.TS)),
		})
	})
	slices.SortFunc(es, func(a, b backend.Entry) int {
		if a.Hash != b.Hash {
			if a.Hash < b.Hash {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return bytes.Compare(a.Value, b.Value)
	})
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Restore implements backend.Table.
func (t *Timers[K, N]) Restore(e backend.Entry) error {
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
