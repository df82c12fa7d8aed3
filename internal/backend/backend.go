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
	"encoding/binary"
	"errors"

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
	// Capture returns the table's contents as they are now, as a View that
	// other goroutines can read while the table goes on changing. It is
	// the synchronous part of a snapshot: it must take time in the number
	// of the table's shards, not of its entries.
	Capture() View
	// Entries calls fn for every entry whose key hash lies in r, in
	// ascending order of (hash, key, namespace). The slices passed to fn are
	// valid only during the call. Expired TTL entries are skipped.
	Entries(r keyspace.Range, fn func(Entry) error) error
	// Restore loads one entry in the encoding Entries produces. The entry's
	// slices are valid only during the call (they may lie in a reader's
	// buffer or in a file mapping): a table copies what it keeps. Restored
	// entries with a TTL start a fresh lifetime. A table may keep the entry
	// encoded and decode it when it is first used; an entry that cannot be
	// decoded then fails that use rather than Restore.
	Restore(e Entry) error
}

// View is a table's contents frozen at one instant (a checkpoint barrier).
// Its methods may be called from any goroutine, while the table's owner goes
// on modifying the table.
type View interface {
	// Entries calls fn for every entry of the view, in ascending order of
	// (hash, key, namespace), as Table.Entries does. It may be called once.
	// The slices passed to fn are valid only during the call.
	Entries(fn func(Entry) error) error
	// Release ends the view. Until it is called, the table's owner may have
	// to encode parts of the view before modifying them; call it as soon as
	// the view is written or abandoned. It may be called more than once.
	Release()
}

// Span locates one encoded entry in a buffer: buf[Off : Off+Len].
type Span struct{ Off, Len int }

// EncodedView is implemented by views that can hand over their entries
// already encoded, which saves a call and an encoding per entry: each entry
// in the encoding of RunRestorer, located in a buffer by a Span.
// EncodedEntries calls fn with batches of them, the spans in the order
// Entries yields the entries. It is called instead of Entries, at most
// once; buf and spans are valid only during the call.
type EncodedView interface {
	View
	EncodedEntries(fn func(buf []byte, spans []Span) error) error
}

// Reserver is implemented by tables that can prepare for a restore of
// about n entries whose hashes lie in r.
type Reserver interface {
	Reserve(n int, r keyspace.Range)
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
	// Seal ends registration: the operator is open, and a state first
	// registered later is refused (a restore could not load it).
	Seal()
}

// RunRestorer is implemented by tables that restore runs of entries at a
// time, which saves a call and a decoding per entry. Restoring a run is
// restoring its entries one by one. A run without offsets that does not
// hold exactly N whole entries is refused with ErrBadRun; a run with
// offsets is checked as Run.Offsets says. The run is valid only during the
// call, unless it says otherwise (Run.Keep).
type RunRestorer interface {
	RestoreRun(run Run) error
}

// Run is a run of entries for RunRestorer: N entries, one after another in
// Bytes, in ascending (hash, key, namespace) order, each encoded as in a
// data file of a snapshot (docs/format/savepoint.md):
//
//	hash uint64 LE | uvarint len | key | uvarint len | namespace | uvarint len | value
type Run struct {
	Bytes []byte
	N     int
	// Offsets, if not nil, holds where each of the N entries starts in
	// Bytes, as found by a reader that checked every entry of the run
	// (format.Snapshot.ReadKeyedRuns). A restorer may then locate entries
	// without measuring them: it checks that the offsets start at 0 and
	// ascend and that the last entry ends the run, not that each offset
	// starts an entry, so they must come from such a reader.
	Offsets []uint32
	// Distinct, with Offsets, reports that no two consecutive entries of
	// the run have the same hash, so that none can be a duplicate of the
	// one before it.
	Distinct bool
	// Keep, if not nil, says that Bytes lies in memory that is never
	// written and stays valid, after the call, for as long as Keep is
	// reachable (a read-only mapping of a data file, unmapped once Keep is
	// garbage). A restorer may then hold on to Bytes instead of copying it,
	// provided that everything holding a part of it holds Keep too. The
	// garbage collector does not see such memory: a slice of it kept
	// without Keep may dangle, and nothing may write to it. Keep is a
	// pointer: restorers compare it to tell mappings apart.
	Keep any
}

// ErrBadRun is returned for a run that does not hold whole encoded entries.
var ErrBadRun = errors.New("backend: malformed run of encoded entries")

// NextEncoded decodes the first entry of a run and returns it with the
// rest of the run. The entry's slices alias the run.
func NextEncoded(run []byte) (e Entry, rest []byte, err error) {
	if len(run) < 8 {
		return e, nil, ErrBadRun
	}
	e.Hash = binary.LittleEndian.Uint64(run)
	p := run[8:]
	var parts [3][]byte
	for i := range parts {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return e, nil, ErrBadRun
		}
		end := k + int(l)
		parts[i] = p[k:end:end]
		p = p[end:]
	}
	e.Key, e.Namespace, e.Value = parts[0], parts[1], parts[2]
	return e, p, nil
}

// MeasureEncoded returns the size of the first entry of a run, or 0 if the
// run does not start with a whole entry: what NextEncoded consumes, without
// making the entry.
func MeasureEncoded(run []byte) int {
	q := 8
	if len(run) < q {
		return 0
	}
	for range 3 {
		if q >= len(run) {
			return 0
		}
		l, k := uint64(run[q]), 1
		if l >= 0x80 {
			if l, k = binary.Uvarint(run[q:]); k <= 0 {
				return 0
			}
		}
		q += k
		if l > uint64(len(run)-q) {
			return 0
		}
		q += int(l)
	}
	return q
}

// EncodedLen is the size of e in the encoding of a run.
func EncodedLen(e Entry) int {
	return 8 + uvarintLen(len(e.Key)) + len(e.Key) + uvarintLen(len(e.Namespace)) + len(e.Namespace) + uvarintLen(len(e.Value)) + len(e.Value)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// AppendEncoded appends e in the encoding of a run.
func AppendEncoded(dst []byte, e Entry) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, e.Hash)
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Namespace)))
	dst = append(dst, e.Namespace...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
	return append(dst, e.Value...)
}
