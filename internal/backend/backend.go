// Package backend defines what every keyed state backend offers the runtime:
// typed tables for the state kinds, scoped to a current key and namespace,
// and an untyped view that enumerates state by ranges of the key hash, which
// is what snapshots and rescaling read.
//
// Implementation: hashmap (Go maps on the heap). Operators use its typed
// tables directly today; typed table interfaces, and a conformance suite,
// come with the second (Pebble) implementation.
package backend

import (
	"github.com/weirstream/weir/internal/keyspace"
)

// Kind is the kind of a state.
type Kind uint8

// State kinds.
const (
	KindValue Kind = iota + 1
	KindList
	KindMap
	KindReducing
	KindAggregating
	// KindTimers is an operator's event-time or processing-time timers:
	// one entry per (key, namespace, timestamp), value = the timestamp.
	KindTimers
)

var kindNames = [...]string{"", "value", "list", "map", "reducing", "aggregating", "timers"}

// String returns the kind's lowercase name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Entry is one piece of keyed state in canonical encoding: the key's hash,
// the key, the namespace and the value, each encoded by its serializer.
type Entry struct {
	Hash      uint64
	Key       []byte
	Namespace []byte
	Value     []byte
}

// Table is the untyped view of one registered state.
type Table interface {
	// Name is the state's name, unique within its operator.
	Name() string
	// Kind is the state's kind.
	Kind() Kind
	// Len returns the number of (key, namespace) entries.
	Len() int
	// Entries calls fn for every entry whose key hash lies in r, in
	// ascending order of (hash, key, namespace). The slices passed to fn are
	// valid only during the call. Expired TTL entries are skipped.
	Entries(r keyspace.Range, fn func(Entry) error) error
	// Restore loads one entry in the encoding Entries produces. Restored
	// entries with a TTL start a fresh lifetime.
	Restore(e Entry) error
}

// SchemaReporter is implemented by tables that can describe the serializers
// they write with: the encoded serde schemas of key, namespace and value,
// stored in snapshots and checked on restore.
type SchemaReporter interface {
	Schemas() (key, namespace, value []byte)
}

// Keyed is the untyped view of the keyed state of one operator subtask.
type Keyed interface {
	// Tables returns the registered states in registration order.
	Tables() []Table
	// Table returns the state registered under name, or nil.
	Table(name string) Table
}
