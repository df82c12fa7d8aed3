// Package hashmap is the heap state backend: keyed state lives in Go maps as
// Go values, so reads and writes cost a map access and no serialization.
// State is encoded only when it is snapshotted.
//
// A Backend and its tables belong to one operator subtask and are used from
// that subtask's goroutine only; the Views their Capture returns may be read
// from any goroutine (see store.go for how).
package hashmap

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// Backend holds the keyed state of one operator subtask whose keys have type
// K.
type Backend[K comparable] struct {
	cur K
	// curHash is the hash of cur, if hashed.
	curHash uint64
	hashed  bool
	hasher  func(K) uint64
	keySer  serde.Serializer[K]
	keyRd   reader[K]
	// keyCopies is copies(keySer).
	keyCopies bool
	now       func() int64
	tables    []backend.Table
	byName    map[string]backend.Table
	// sealed is set once the operator is open (Seal): states registered
	// later could not have been restored.
	sealed bool
}

// New returns an empty backend. hash must be the key type's stable hash and
// now the processing-time clock in epoch milliseconds (used for TTL).
func New[K comparable](keySer serde.Serializer[K], hash func(K) uint64, now func() int64) *Backend[K] {
	return &Backend[K]{hasher: hash, keySer: keySer, keyRd: readerFor(keySer), keyCopies: copies(keySer), now: now, byName: map[string]backend.Table{}}
}

// reader decodes with a serializer, into an arena when the serializer can
// (strings and byte slices): a restore then allocates per chunk of values
// rather than per value.
type reader[T any] struct {
	ser   serde.Serializer[T]
	arena serde.ArenaReader[T]
}

func readerFor[T any](s serde.Serializer[T]) reader[T] {
	r := reader[T]{ser: s}
	// Only the built-in serializers: a user's type that embeds one and
	// overrides Read must be read through its Read.
	switch any(s).(type) {
	case serde.String, serde.Bytes:
		r.arena, _ = s.(serde.ArenaReader[T])
	}
	return r
}

func (r reader[T]) read(src []byte, a *serde.Arena) (T, int, error) {
	if r.arena != nil {
		return r.arena.ReadArena(src, a)
	}
	return r.ser.Read(src)
}

// SetCurrentKey scopes every table of b to key k.
func (b *Backend[K]) SetCurrentKey(k K) { b.cur, b.hashed = k, false }

// keyHash returns the stable hash of the current key, computed once per key.
func (b *Backend[K]) keyHash() uint64 {
	if !b.hashed {
		b.curHash, b.hashed = b.hasher(b.cur), true
	}
	return b.curHash
}

// CurrentKey returns the key set last.
func (b *Backend[K]) CurrentKey() K { return b.cur }

// Tables implements backend.Keyed.
func (b *Backend[K]) Tables() []backend.Table { return b.tables }

// Table implements backend.Keyed.
func (b *Backend[K]) Table(name string) backend.Table { return b.byName[name] }

// Seal ends registration: once the operator owning b is open, a new state
// is refused. A restore loads the states registered by then, so a state
// first registered later could never be restored, and the restore could not
// tell it from a state the operator no longer has.
func (b *Backend[K]) Seal() { b.sealed = true }

// ErrSealed is returned for a state first registered after its operator was
// opened (Seal).
var ErrSealed = errors.New("keyed state must be registered when the operator opens (in its Open method), where a restore finds it; this one was registered later")

func (b *Backend[K]) register(t backend.Table) error {
	if b.sealed {
		return fmt.Errorf("hashmap: state %q: %w", t.Name(), ErrSealed)
	}
	if old, ok := b.byName[t.Name()]; ok {
		return fmt.Errorf("hashmap: state %q is already registered as %s state", t.Name(), old.Kind())
	}
	b.byName[t.Name()] = t
	b.tables = append(b.tables, t)
	return nil
}

// lookup returns the table already registered under name if it has type T.
func lookup[T backend.Table](b interface{ Table(string) backend.Table }, name string) (T, bool, error) {
	var zero T
	old := b.Table(name)
	if old == nil {
		return zero, false, nil
	}
	t, ok := old.(T)
	if !ok {
		return zero, false, fmt.Errorf("hashmap: state %q is already registered as %s state with other types", name, old.Kind())
	}
	return t, true, nil
}

type nsKey[K, N comparable] struct {
	k K
	n N
}

type entry[V any] struct {
	v   V
	exp int64 // expiry in epoch ms; 0 = never
}

// TTL configures time-to-live of a table's entries, in processing time.
//
// An expired entry is invisible at once, and its memory is reclaimed
// incrementally: reading it deletes it, and every 64th write to the table
// (Put, Slot, Add, Update) also examines 16 entries of one shard, taking the
// table's shards in turn, and deletes those that expired: whole values,
// single list elements and map entries, and lists and maps left empty.
// Tables without TTL do none of this and never read the clock.
type TTL struct {
	// Millis is the lifetime in milliseconds; 0 disables TTL.
	Millis int64
	// RefreshOnRead also restarts the lifetime when an entry is read.
	RefreshOnRead bool
}

// table holds what every typed table shares.
type table[K, N comparable] struct {
	b     *Backend[K]
	name  string
	kind  backend.Kind
	ns    N
	nsSer serde.Serializer[N]
	// nsNone reports that namespaces encode to nothing (a table without
	// namespaces, N struct{}): encoding an entry then skips the call.
	nsNone bool
	ttl    TTL
	// aliasing reports that the values handed out can reach memory the
	// table also holds (slices, maps, pointers): the caller may change it
	// in place, so reading a value settles its shard first, as writing does.
	aliasing bool
	// writes counts writes while TTL is on, to sweep every sweepEvery-th.
	writes uint32
	// arena holds the strings and byte slices a restore decodes.
	arena serde.Arena
}

// Incremental TTL cleanup: how often a table with TTL sweeps, and how many
// entries a sweep examines.
const (
	sweepEvery  = 64
	sweepSample = 16
)

func (t *table[K, N]) Name() string       { return t.name }
func (t *table[K, N]) Kind() backend.Kind { return t.kind }

// SetNamespace scopes the table to namespace n (for example a window).
func (t *table[K, N]) SetNamespace(n N) { t.ns = n }

func (t *table[K, N]) key() nsKey[K, N] { return nsKey[K, N]{t.b.cur, t.ns} }

// now returns the processing time TTL is measured against, or 0 if the table
// has no TTL: the clock is then never read, and nothing expires.
func (t *table[K, N]) now() int64 {
	if t.ttl.Millis == 0 {
		return 0
	}
	return t.b.now()
}

// expiresAt returns the expiry of an entry written at now; 0 (never) if the
// table has no TTL.
func (t *table[K, N]) expiresAt(now int64) int64 {
	if t.ttl.Millis == 0 {
		return 0
	}
	return now + t.ttl.Millis
}

// expired reports whether an entry with expiry exp has expired at now.
func expired(exp, now int64) bool {
	return exp != 0 && exp <= now
}

// sweepDue counts a write and reports whether it is the one that sweeps.
func (t *table[K, N]) sweepDue() bool {
	if t.ttl.Millis == 0 {
		return false
	}
	t.writes++
	return t.writes%sweepEvery == 0
}

// decodeKey decodes an entry's key and namespace.
func decodeKey[K, N comparable](t *table[K, N], e backend.Entry) (nsKey[K, N], error) {
	k, n, err := t.b.keyRd.read(e.Key, &t.arena)
	if err != nil || n != len(e.Key) {
		return nsKey[K, N]{}, fmt.Errorf("state %q: undecodable key %x: %v", t.name, e.Key, errOr(err, n, len(e.Key)))
	}
	ns, n, err := t.nsSer.Read(e.Namespace)
	if err != nil || n != len(e.Namespace) {
		return nsKey[K, N]{}, fmt.Errorf("state %q: undecodable namespace %x: %v", t.name, e.Namespace, errOr(err, n, len(e.Namespace)))
	}
	if h := t.b.hasher(k); h != e.Hash {
		return nsKey[K, N]{}, fmt.Errorf("state %q: key %x hashes to %016x, the snapshot says %016x", t.name, e.Key, h, e.Hash)
	}
	return nsKey[K, N]{k, ns}, nil
}

// errOr describes a decode that failed or did not use the whole input.
func errOr(err error, used, have int) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%d trailing bytes", have-used)
}

// partHash returns the stable hash of an entry key's partitioning key.
func (t *table[K, N]) partHash(k nsKey[K, N]) uint64 { return t.b.hasher(k.k) }

// beginEntry starts an entry of out for k: its hash, key and namespace.
func (t *table[K, N]) beginEntry(out *encoded, k nsKey[K, N]) {
	t.beginHashed(out, t.b.hasher(k.k), k)
}

// beginHashed is beginEntry for a key whose hash h is known.
func (t *table[K, N]) beginHashed(out *encoded, h uint64, k nsKey[K, N]) {
	out.begin(h)
	out.arena = t.b.keySer.Append(out.arena, k.k)
	out.markKey()
	if !t.nsNone {
		out.arena = t.nsSer.Append(out.arena, k.n)
	}
	out.markNS()
}

// encodesNothing reports whether every value of N encodes to no bytes
// with ser: N has size zero, so all its values are the zero value, and
// ser encodes that as nothing.
func encodesNothing[N any](ser serde.Serializer[N]) bool {
	var zero N
	return reflect.TypeFor[N]().Size() == 0 && len(ser.Append(nil, zero)) == 0
}

// viewEntries calls fn for the entries of v in range r, and releases v.
func viewEntries(v backend.View, r keyspace.Range, fn func(backend.Entry) error) error {
	defer v.Release()
	return v.Entries(func(e backend.Entry) error {
		if !r.Contains(e.Hash) {
			return nil
		}
		return fn(e)
	})
}

// holdsReferences reports whether a value of type t can reach memory that a
// copy of it shares: pointers, slices, maps, interfaces, channels and
// functions, directly or in arrays and struct fields. Strings are immutable
// and do not count.
func holdsReferences(t reflect.Type) bool { return refers(t, false) }

// refersToMemory reports whether a value of type t can point to memory
// outside itself: holdsReferences, or it holds a string.
func refersToMemory(t reflect.Type) bool { return refers(t, true) }

// refers is holdsReferences, counting strings if strings is set.
func refers(t reflect.Type, strings bool) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.String:
		return strings
	case reflect.Array:
		return t.Len() > 0 && refers(t.Elem(), strings)
	case reflect.Struct:
		for i := range t.NumField() {
			if refers(t.Field(i).Type, strings) {
				return true
			}
		}
	}
	return false
}

// serdePath is the import path of package serde.
var serdePath = reflect.TypeFor[serde.String]().PkgPath()

// copies reports whether the values s reads never share memory with its
// input: T holds nothing that can point to memory (no pointers, slices,
// strings, ...), or s is one of serde's serializers, which copy what they
// read. A user's serializer may return a slice of its input, which must
// then be memory the garbage collector keeps (see store.keepsMapped).
func copies[T any](s serde.Serializer[T]) bool {
	if !refersToMemory(reflect.TypeFor[T]()) {
		return true
	}
	t := reflect.TypeOf(s)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.PkgPath() == serdePath
}

// cloneEntry returns e with its key, namespace and value copied into one
// new buffer, for decoding with serializers that may return parts of their
// input (see copies) when e is valid only for a while.
func cloneEntry(e backend.Entry) backend.Entry {
	b := make([]byte, 0, len(e.Key)+len(e.Namespace)+len(e.Value))
	b = append(append(append(b, e.Key...), e.Namespace...), e.Value...)
	k, n := len(e.Key), len(e.Key)+len(e.Namespace)
	return backend.Entry{Hash: e.Hash, Key: b[:k:k], Namespace: b[k:n:n], Value: b[n:]}
}
