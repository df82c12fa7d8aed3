// Package opstate holds operator (non-keyed) state: named lists of values
// that belong to one operator subtask as a whole, such as a source's splits
// and their positions.
//
// When a job is restored at a different parallelism, each list is
// redistributed: evenly (the elements of all old subtasks are dealt into
// near-equal contiguous parts, Flink's even-split) or as a union (every new
// subtask gets every element). Redistribute implements both.
//
// A Backend and its lists are used from the subtask's goroutine only.
package opstate

import (
	"errors"
	"fmt"
	"iter"

	"github.com/weirstream/weir/serde"
)

// Mode says how a list is redistributed when parallelism changes.
type Mode uint8

const (
	// EvenSplit deals all elements into near-equal contiguous parts.
	EvenSplit Mode = iota + 1
	// Union gives every subtask all elements.
	Union
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case EvenSplit:
		return "even-split"
	case Union:
		return "union"
	}
	return "unknown"
}

// Table is the untyped view of one operator list.
type Table interface {
	Name() string
	Mode() Mode
	// Encoded returns the list's elements, each encoded by its serializer.
	Encoded() [][]byte
	// Restore replaces the list's elements with decoded ones.
	Restore(elements [][]byte) error
	// Schema returns the encoded serializer snapshot (serde.Schema) of the
	// list's elements, or nil if its serializer cannot describe itself.
	Schema() []byte
}

// Backend holds one operator subtask's operator state.
type Backend struct {
	tables []Table
	byName map[string]Table
	// restored are the lists restored from a snapshot, by name (read
	// only); check vets a list's mode and element schema before it takes
	// them.
	restored map[string][][]byte
	check    func(name string, mode Mode, schema []byte) error
	// sealed is set once the operator is open (Seal).
	sealed bool
}

// ErrSealed is returned for a list first registered after its operator was
// opened (Seal).
var ErrSealed = errors.New("operator state must be registered when the operator opens (in its Open method), where a restore finds it; this one was registered later")

// Seal ends registration: once the operator owning b is open, a new list is
// refused. A restore hands out the lists registered by then, so a list
// first registered later could never be restored, and the restore could not
// tell it from a list the operator no longer has.
func (b *Backend) Seal() { b.sealed = true }

// New returns an empty backend.
func New() *Backend { return &Backend{byName: map[string]Table{}} }

// NewRestored returns a backend holding lists restored from a snapshot, by
// name: a list registered under one of those names starts with its
// elements, as soon as it is registered, once check (if not nil) accepts
// the list's mode and element schema (Table.Schema) for them.
func NewRestored(lists map[string][][]byte, check func(name string, mode Mode, schema []byte) error) *Backend {
	b := New()
	b.restored, b.check = lists, check
	return b
}

// Restored reports whether the list registered under name started with
// elements restored from a snapshot (see NewRestored).
func (b *Backend) Restored(name string) bool {
	_, ok := b.restored[name]
	return ok && b.byName[name] != nil
}

// Tables returns the registered lists in registration order.
func (b *Backend) Tables() []Table { return b.tables }

// List is an operator list state of Ts.
type List[T any] struct {
	name string
	mode Mode
	ser  serde.Serializer[T]
	vals []T
}

// NewList registers a list named name, or returns the one registered under
// that name if its type and mode match.
func NewList[T any](b *Backend, name string, mode Mode, ser serde.Serializer[T]) (*List[T], error) {
	if mode != EvenSplit && mode != Union {
		return nil, fmt.Errorf("opstate: list %q: unknown redistribution mode %d", name, mode)
	}
	if old, ok := b.byName[name]; ok {
		l, ok := old.(*List[T])
		if !ok || l.mode != mode {
			return nil, fmt.Errorf("opstate: state %q is already registered with another type or mode (%s)", name, old.Mode())
		}
		return l, nil
	}
	if b.sealed {
		return nil, fmt.Errorf("opstate: list %q: %w", name, ErrSealed)
	}
	if _, err := serde.SchemaFor(ser); err != nil {
		return nil, fmt.Errorf("opstate: list %q: %w", name, err)
	}
	l := &List[T]{name: name, mode: mode, ser: ser}
	if elems, ok := b.restored[name]; ok {
		if b.check != nil {
			if err := b.check(name, mode, l.Schema()); err != nil {
				return nil, err
			}
		}
		if err := l.Restore(elems); err != nil {
			return nil, err
		}
	}
	b.byName[name] = l
	b.tables = append(b.tables, l)
	return l, nil
}

// Name implements Table.
func (l *List[T]) Name() string { return l.name }

// Mode implements Table.
func (l *List[T]) Mode() Mode { return l.mode }

// All yields the elements in order.
func (l *List[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, v := range l.vals {
			if !yield(v) {
				return
			}
		}
	}
}

// Add appends v.
func (l *List[T]) Add(v T) { l.vals = append(l.vals, v) }

// Update replaces the elements with a copy of vs.
func (l *List[T]) Update(vs []T) { l.vals = append(l.vals[:0:0], vs...) }

// Clear removes every element.
func (l *List[T]) Clear() { l.vals = nil }

// Schema implements Table.
func (l *List[T]) Schema() []byte {
	s, err := serde.SchemaFor(l.ser)
	if err != nil {
		return nil
	}
	return serde.AppendSchema(nil, s)
}

// Encoded implements Table.
func (l *List[T]) Encoded() [][]byte {
	out := make([][]byte, len(l.vals))
	for i, v := range l.vals {
		out[i] = l.ser.Append(nil, v)
	}
	return out
}

// Restore implements Table.
func (l *List[T]) Restore(elements [][]byte) error {
	vals := make([]T, 0, len(elements))
	for i, b := range elements {
		v, n, err := l.ser.Read(b)
		if err != nil || n != len(b) {
			if err == nil {
				err = fmt.Errorf("%d trailing bytes", len(b)-n)
			}
			return fmt.Errorf("opstate: list %q element %d: %w", l.name, i, err)
		}
		vals = append(vals, v)
	}
	l.vals = vals
	return nil
}

// Redistribute returns the elements each of newP subtasks gets from the
// per-subtask lists old (old[i] is subtask i's list at the old parallelism).
// EvenSplit concatenates the old lists in subtask order and cuts the result
// into newP contiguous parts whose sizes differ by at most one; Union gives
// every new subtask the whole concatenation.
func Redistribute[T any](old [][]T, newP int, mode Mode) [][]T {
	var all []T
	for _, l := range old {
		all = append(all, l...)
	}
	out := make([][]T, newP)
	switch mode {
	case Union:
		for i := range out {
			out[i] = append([]T(nil), all...)
		}
	default:
		q, r := len(all)/newP, len(all)%newP
		start := 0
		for i := range out {
			n := q
			if i < r {
				n++
			}
			out[i] = append([]T(nil), all[start:start+n]...)
			start += n
		}
	}
	return out
}
