package hashmap

import (
	"bytes"
	"encoding/binary"
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
