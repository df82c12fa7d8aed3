package state

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/serde"
)

// Store gives a keyed function access to its operator's keyed state. The
// runtime implements it; functions receive one in Open.
type Store[K comparable] interface {
	// CurrentKey returns the key whose state the handles currently address.
	CurrentKey() K
	// KeyedBackend returns the backend holding the operator's state. It is
	// the runtime's concern; functions do not call it.
	KeyedBackend() backend.Keyed
}

// TTL makes state entries expire a fixed time after they were written, in
// processing time. Expired entries are never returned and are dropped from
// snapshots.
type TTL struct {
	// Duration is the lifetime of an entry. Zero disables TTL.
	Duration time.Duration
	// RefreshOnRead restarts the lifetime on every read as well as on every
	// write (Flink's OnReadAndWrite).
	RefreshOnRead bool
}

func (t TTL) internal() (hashmap.TTL, error) {
	if t.Duration < 0 {
		return hashmap.TTL{}, fmt.Errorf("state: negative TTL %v", t.Duration)
	}
	ms := t.Duration.Milliseconds()
	if t.Duration > 0 && ms == 0 {
		ms = 1
	}
	return hashmap.TTL{Millis: ms, RefreshOnRead: t.RefreshOnRead}, nil
}

// AggregateFunction folds values of type IN into an accumulator and turns
// the accumulator into a result. Merge combines two accumulators; merging
// windows (sessions) need it.
type AggregateFunction[IN, ACC, OUT any] interface {
	CreateAccumulator() ACC
	Add(v IN, acc ACC) ACC
	Result(acc ACC) OUT
	Merge(a, b ACC) ACC
}

// ValueDescriptor describes a Value state.
type ValueDescriptor[T any] struct {
	Name string
	TTL  TTL
	// Serializer writes the value into snapshots; nil means serde.Of[T].
	Serializer serde.Serializer[T]
}

// ListDescriptor describes a List state.
type ListDescriptor[T any] struct {
	Name       string
	TTL        TTL
	Serializer serde.Serializer[T]
}

// MapDescriptor describes a Map state.
type MapDescriptor[UK comparable, UV any] struct {
	Name            string
	TTL             TTL
	KeySerializer   serde.Serializer[UK]
	ValueSerializer serde.Serializer[UV]
}

// ReducingDescriptor describes a Reducing state.
type ReducingDescriptor[T any] struct {
	Name       string
	Reduce     func(a, b T) T
	TTL        TTL
	Serializer serde.Serializer[T]
}

// AggregatingDescriptor describes an Aggregating state; the stored value is
// the accumulator.
type AggregatingDescriptor[IN, ACC, OUT any] struct {
	Name       string
	Aggregate  AggregateFunction[IN, ACC, OUT]
	TTL        TTL
	Serializer serde.Serializer[ACC]
}

// Value holds one value per key.
type Value[T any] interface {
	// Value returns the current key's value and whether it has one.
	Value() (T, bool)
	// Update sets the current key's value.
	Update(v T)
	// Clear removes the current key's value.
	Clear()
}

// List holds a list per key.
type List[T any] interface {
	// All yields the current key's elements in insertion order.
	All() iter.Seq[T]
	// Add appends v.
	Add(v T)
	// Update replaces the list.
	Update(vs []T)
	// Clear removes the list.
	Clear()
}

// Map holds a map per key.
type Map[UK comparable, UV any] interface {
	Get(uk UK) (UV, bool)
	Put(uk UK, uv UV)
	Remove(uk UK)
	Contains(uk UK) bool
	// All yields the entries in unspecified order.
	All() iter.Seq2[UK, UV]
	IsEmpty() bool
	Clear()
}

// Reducing folds every added value into one with a reduce function.
type Reducing[T any] interface {
	Get() (T, bool)
	Add(v T)
	Clear()
}

// Aggregating folds every added value into an accumulator.
type Aggregating[IN, OUT any] interface {
	Get() (OUT, bool)
	Add(v IN)
	Clear()
}

// void is the namespace of state that is not scoped to a window.
type void = struct{}

var voidSer = serde.Of[void]()

var errNoName = errors.New("state: a state needs a name")

func hashmapOf[K comparable](s Store[K]) (*hashmap.Backend[K], error) {
	b, ok := s.KeyedBackend().(*hashmap.Backend[K])
	if !ok {
		return nil, fmt.Errorf("state: unsupported backend %T", s.KeyedBackend())
	}
	return b, nil
}

func serOr[T any](s serde.Serializer[T]) (serde.Serializer[T], error) {
	if s != nil {
		return s, nil
	}
	return serde.Lookup[T]()
}

// GetValue returns the Value state described by d, registering it the first
// time it is asked for, which must be in the function's Open (see the
// package documentation); later calls with the same descriptor return it.
func GetValue[K comparable, T any](s Store[K], d ValueDescriptor[T]) (Value[T], error) {
	t, err := valueTable(s, d.Name, backend.KindValue, d.Serializer, d.TTL)
	if err != nil {
		return nil, err
	}
	return valueHandle[K, T]{t}, nil
}

func valueTable[K comparable, T any](s Store[K], name string, kind backend.Kind, ser serde.Serializer[T], ttl TTL) (*hashmap.Value[K, void, T], error) {
	if name == "" {
		return nil, errNoName
	}
	b, err := hashmapOf(s)
	if err != nil {
		return nil, err
	}
	vs, err := serOr(ser)
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", name, err)
	}
	it, err := ttl.internal()
	if err != nil {
		return nil, err
	}
	return hashmap.NewValue[K, void, T](b, name, kind, voidSer, vs, it)
}

type valueHandle[K comparable, T any] struct{ t *hashmap.Value[K, void, T] }

func (h valueHandle[K, T]) Value() (T, bool) { return h.t.Get() }
func (h valueHandle[K, T]) Update(v T)       { h.t.Put(v) }
func (h valueHandle[K, T]) Clear()           { h.t.Clear() }

// GetList returns the List state described by d.
func GetList[K comparable, T any](s Store[K], d ListDescriptor[T]) (List[T], error) {
	if d.Name == "" {
		return nil, errNoName
	}
	b, err := hashmapOf(s)
	if err != nil {
		return nil, err
	}
	vs, err := serOr(d.Serializer)
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", d.Name, err)
	}
	it, err := d.TTL.internal()
	if err != nil {
		return nil, err
	}
	t, err := hashmap.NewList[K, void, T](b, d.Name, voidSer, vs, it)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// GetMap returns the Map state described by d.
func GetMap[K, UK comparable, UV any](s Store[K], d MapDescriptor[UK, UV]) (Map[UK, UV], error) {
	if d.Name == "" {
		return nil, errNoName
	}
	b, err := hashmapOf(s)
	if err != nil {
		return nil, err
	}
	ks, err := serOr(d.KeySerializer)
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", d.Name, err)
	}
	vs, err := serOr(d.ValueSerializer)
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", d.Name, err)
	}
	it, err := d.TTL.internal()
	if err != nil {
		return nil, err
	}
	t, err := hashmap.NewMap[K, void, UK, UV](b, d.Name, voidSer, ks, vs, it)
	if err != nil {
		return nil, err
	}
	return mapHandle[K, UK, UV]{t}, nil
}

type mapHandle[K, UK comparable, UV any] struct {
	*hashmap.Map[K, void, UK, UV]
}

func (h mapHandle[K, UK, UV]) Contains(uk UK) bool {
	_, ok := h.Get(uk)
	return ok
}

func (h mapHandle[K, UK, UV]) IsEmpty() bool {
	for range h.All() {
		return false
	}
	return true
}

// GetReducing returns the Reducing state described by d.
func GetReducing[K comparable, T any](s Store[K], d ReducingDescriptor[T]) (Reducing[T], error) {
	if d.Reduce == nil {
		return nil, fmt.Errorf("state %q: a reducing state needs a Reduce function", d.Name)
	}
	t, err := valueTable(s, d.Name, backend.KindReducing, d.Serializer, d.TTL)
	if err != nil {
		return nil, err
	}
	return reducingHandle[K, T]{t, d.Reduce}, nil
}

type reducingHandle[K comparable, T any] struct {
	t      *hashmap.Value[K, void, T]
	reduce func(a, b T) T
}

func (h reducingHandle[K, T]) Get() (T, bool) { return h.t.Get() }
func (h reducingHandle[K, T]) Clear()         { h.t.Clear() }
func (h reducingHandle[K, T]) Add(v T) {
	if cur, ok := h.t.Get(); ok {
		v = h.reduce(cur, v)
	}
	h.t.Put(v)
}

// GetAggregating returns the Aggregating state described by d.
func GetAggregating[K comparable, IN, ACC, OUT any](s Store[K], d AggregatingDescriptor[IN, ACC, OUT]) (Aggregating[IN, OUT], error) {
	if d.Aggregate == nil {
		return nil, fmt.Errorf("state %q: an aggregating state needs an Aggregate function", d.Name)
	}
	t, err := valueTable(s, d.Name, backend.KindAggregating, d.Serializer, d.TTL)
	if err != nil {
		return nil, err
	}
	return aggregatingHandle[K, IN, ACC, OUT]{t, d.Aggregate}, nil
}

type aggregatingHandle[K comparable, IN, ACC, OUT any] struct {
	t   *hashmap.Value[K, void, ACC]
	agg AggregateFunction[IN, ACC, OUT]
}

func (h aggregatingHandle[K, IN, ACC, OUT]) Get() (OUT, bool) {
	acc, ok := h.t.Get()
	if !ok {
		var zero OUT
		return zero, false
	}
	return h.agg.Result(acc), true
}

func (h aggregatingHandle[K, IN, ACC, OUT]) Clear() { h.t.Clear() }

func (h aggregatingHandle[K, IN, ACC, OUT]) Add(v IN) {
	acc, ok := h.t.Get()
	if !ok {
		acc = h.agg.CreateAccumulator()
	}
	h.t.Put(h.agg.Add(v, acc))
}
