package hashmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"unsafe"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// Value is a table holding one value per (key, namespace). Entries live
// behind pointers so that Slot can update a value with one map lookup.
type Value[K, N comparable, V any] struct {
	table[K, N]
	st     store[nsKey[K, N], *entry[V]]
	valSer serde.Serializer[V]
	valRd  reader[V]
	// slabs holds the entries of each shard, by shard id. A freed entry
	// is reused by its shard only; hashes spread keys evenly, so each
	// shard's share of the live keys, and memory, stays about its peak.
	slabs []slab[V]
	refs  refs // what values refer to, for encodeBatch
	// known reports that entries encode in a way known in advance
	// (layout.go), its key and value as keyKind and valKind say.
	known            bool
	keyKind, valKind partKind
}

// NewValue registers a value table named name in b, or returns the one
// already registered under that name if its types match.
func NewValue[K, N comparable, V any](b *Backend[K], name string, kind backend.Kind, nsSer serde.Serializer[N], valSer serde.Serializer[V], ttl TTL) (*Value[K, N, V], error) {
	if t, ok, err := lookup[*Value[K, N, V]](b, name); err != nil {
		return nil, err
	} else if ok {
		// Value, reducing and aggregating states share this table type.
		if t.kind != kind {
			return nil, fmt.Errorf("hashmap: state %q is already registered as %s state", name, t.kind)
		}
		return t, nil
	}
	if err := describable(name, schemaErr(b.keySer), schemaErr(nsSer), schemaErr(valSer)); err != nil {
		return nil, err
	}
	t := &Value[K, N, V]{table: table[K, N]{b: b, name: name, kind: kind, nsSer: nsSer, nsNone: encodesNothing(nsSer), ttl: ttl, aliasing: holdsReferences(reflect.TypeFor[V]())}, valSer: valSer, valRd: readerFor(valSer), refs: refsOf[V]()}
	t.keyKind, t.valKind = partKindOf(b.keySer), partKindOf(valSer)
	t.known = t.nsNone && t.keyKind != partOther && t.valKind != partOther
	t.st = newStore(t.partHash, t.encode, t.decode, t.expiresAt)
	t.st.keepsMapped = b.keyCopies && copies(nsSer) && copies(valSer)
	t.st.probe = t.probe
	return t, b.register(t)
}

// probe decodes the restored entry e without keeping it (store.check).
func (t *Value[K, N, V]) probe(e backend.Entry) error {
	if _, err := decodeKey(&t.table, e); err != nil {
		return err
	}
	// As decode reads it, through the arena when the serializer has one.
	if _, n, err := t.valRd.read(e.Value, &t.arena); err != nil || n != len(e.Value) {
		return fmt.Errorf("undecodable value: %v", errOr(err, n, len(e.Value)))
	}
	return nil
}

// Get returns the value for the current key and namespace.
func (t *Value[K, N, V]) Get() (V, bool) {
	k, h := t.key(), t.b.keyHash()
	e, _ := t.st.get(h, k)
	if e == nil {
		var zero V
		return zero, false
	}
	if e.exp != 0 {
		now := t.b.now()
		if expired(e.exp, now) {
			t.remove(t.st.writable(h), k, e)
			var zero V
			return zero, false
		}
		if t.ttl.RefreshOnRead {
			t.st.writable(h)
			e.exp = t.expiresAt(now)
		}
	}
	if t.aliasing {
		settled(t.st.at(h))
	}
	return e.v, true
}

// Put sets the value for the current key and namespace.
func (t *Value[K, N, V]) Put(v V) {
	p, _ := t.Slot()
	*p = v
}

// Slot returns a pointer to the value of the current key and namespace,
// creating a zero value if there is none (isNew then reports true). Calling
// Slot counts as a write: with TTL it starts a fresh lifetime for the entry,
// so writing through the pointer right away needs no further call. The
// pointer is valid until the next call on the table: the entry may then be
// cleared, expire, be reused for another key, or be snapshotted.
func (t *Value[K, N, V]) Slot() (v *V, isNew bool) {
	now := t.now()
	if t.sweepDue() {
		t.sweep(now)
	}
	k, h := t.key(), t.b.keyHash()
	sh := t.st.writable(h)
	e := sh.m[k]
	if e != nil && expired(e.exp, now) {
		t.remove(sh, k, e)
		e = nil
	}
	if e == nil {
		e = t.slab(sh.id).get()
		e.exp = t.expiresAt(now)
		sh.m[k] = e
		t.st.grown(sh)
		return &e.v, true
	}
	e.exp = t.expiresAt(now)
	return &e.v, false
}

// sweep deletes the expired entries among sweepSample of them.
func (t *Value[K, N, V]) sweep(now int64) {
	sh := t.st.sweepShard(now)
	var dead [sweepSample]nsKey[K, N]
	n, d := 0, 0
	for k, e := range sh.m {
		if expired(e.exp, now) {
			dead[d] = k
			d++
		}
		if n++; n == sweepSample {
			break
		}
	}
	if d == 0 {
		return
	}
	settled(sh)
	for _, k := range dead[:d] {
		t.remove(sh, k, sh.m[k])
	}
}

// Clear removes the value for the current key and namespace.
func (t *Value[K, N, V]) Clear() {
	k, h := t.key(), t.b.keyHash()
	if e, _ := t.st.get(h, k); e != nil {
		t.remove(t.st.writable(h), k, e)
	}
}

// remove deletes k from sh (writable) and recycles its entry.
func (t *Value[K, N, V]) remove(sh *shard[nsKey[K, N], *entry[V]], k nsKey[K, N], e *entry[V]) {
	delete(sh.m, k)
	t.slab(sh.id).put(e)
}

// Len implements backend.Table. It counts entries held in memory, including
// expired ones not reclaimed yet (see TTL).
func (t *Value[K, N, V]) Len() int { return t.st.len() }

// Capture implements backend.Table.
func (t *Value[K, N, V]) Capture() backend.View { return t.st.capture(t.now()) }

// Entries implements backend.Table.
func (t *Value[K, N, V]) Entries(r keyspace.Range, fn func(backend.Entry) error) error {
	return viewEntries(t.Capture(), r, fn)
}

// Reserve implements backend.Reserver.
func (t *Value[K, N, V]) Reserve(n int, r keyspace.Range) { t.st.reserve(n, r.Lo, r.Hi) }

// encode encodes a shard's live entries; it may run on any goroutine. It
// sorts them by hash first, so that they are appended to out in the order a
// snapshot writes them: the writer then reads and copies out's arena
// sequentially. It works in batches so that the cache misses of a batch
// overlap (touch.go).
func (t *Value[K, N, V]) encode(out *encoded, m map[nsKey[K, N]]*entry[V], now int64) {
	sc, _ := out.scratch.(*valueScratch[K, N, V])
	if sc == nil {
		sc = new(valueScratch[K, N, V])
		out.scratch = sc
	}
	hs := slices.Grow(sc.ents[:0], len(m))
	for k, e := range m {
		hs = append(hs, hashed[K, N, V]{hash: t.b.hasher(k.k), k: k, e: e})
	}
	hs, sc.tmp = sortByHash(hs, sc.tmp, &out.counts)
	sc.ents = hs[:0]
	first := len(out.ents)
	for i := 0; i < len(hs); i += touchBatch {
		t.encodeBatch(out, hs[i:min(i+touchBatch, len(hs))], now)
	}
	if first == 0 {
		out.sortTies()
		out.sorted = true
	}
}

// hashed is an entry of a Value table with its key and hash, for encode to
// sort. The hash comes first (hashOf).
type hashed[K, N comparable, V any] struct {
	hash uint64
	k    nsKey[K, N]
	e    *entry[V]
}

// valueScratch is the scratch of a Value table's encode, kept in
// encoded.scratch from one shard to the next: the writer's for a view, the
// task's for the shards it settles (shard.settle). It is not cleared: the
// keys and entries it holds stay reachable as long as the view at most.
type valueScratch[K, N comparable, V any] struct {
	ents, tmp []hashed[K, N, V]
}

// encodeBatch loads the entries of a batch and the memory their values
// refer to (touch.go), then encodes the live ones.
func (t *Value[K, N, V]) encodeBatch(out *encoded, hs []hashed[K, N, V], now int64) {
	var (
		sum byte
		es  [touchBatch]unsafe.Pointer
	)
	for i := range hs {
		e := hs[i].e
		sum ^= byte(e.exp)
		es[i] = unsafe.Pointer(e)
	}
	if t.refs.kind != refNone {
		// The value lies at the start of its entry (TestEntryLayout), so
		// the entries' pointers are the values'.
		sum ^= t.refs.touch(es[:len(hs)])
	}
	out.touched ^= sum
	if t.known {
		for i := range hs {
			if x := &hs[i]; !expired(x.e.exp, now) {
				t.appendKnown(out, x)
			}
		}
		return
	}
	for i := range hs {
		x := &hs[i]
		if expired(x.e.exp, now) {
			continue
		}
		t.beginHashed(out, x.hash, x.k)
		out.arena = t.valSer.Append(out.arena, x.e.v)
		out.markValue()
	}
}

// slab returns the slab of the shard with id sid.
func (t *Value[K, N, V]) slab(sid int32) *slab[V] {
	for int(sid) >= len(t.slabs) {
		t.slabs = append(t.slabs, slab[V]{})
	}
	return &t.slabs[sid]
}

// slab hands out entries from chunks and recycles cleared ones, so that
// creating an entry rarely allocates and memory stays bounded by the peak
// number of live entries.
type slab[V any] struct {
	chunk []entry[V]
	free  []*entry[V]
}

const slabChunk = 256

func (s *slab[V]) get() *entry[V] {
	if n := len(s.free); n > 0 {
		e := s.free[n-1]
		s.free = s.free[:n-1]
		return e
	}
	if len(s.chunk) == 0 {
		s.chunk = make([]entry[V], slabChunk)
	}
	e := &s.chunk[0]
	s.chunk = s.chunk[1:]
	return e
}

func (s *slab[V]) put(e *entry[V]) {
	*e = entry[V]{} // drop references held by the value
	s.free = append(s.free, e)
}

// List is a table holding a list per (key, namespace).
type List[K, N comparable, V any] struct {
	table[K, N]
	st     store[nsKey[K, N], []entry[V]]
	valSer serde.Serializer[V]
	valRd  reader[V]
}

// NewList registers a list table; see NewValue.
func NewList[K, N comparable, V any](b *Backend[K], name string, nsSer serde.Serializer[N], valSer serde.Serializer[V], ttl TTL) (*List[K, N, V], error) {
	if t, ok, err := lookup[*List[K, N, V]](b, name); ok || err != nil {
		return t, err
	}
	if err := describable(name, schemaErr(b.keySer), schemaErr(nsSer), schemaErr(valSer)); err != nil {
		return nil, err
	}
	t := &List[K, N, V]{table: table[K, N]{b: b, name: name, kind: backend.KindList, nsSer: nsSer, nsNone: encodesNothing(nsSer), ttl: ttl, aliasing: holdsReferences(reflect.TypeFor[V]())}, valSer: valSer, valRd: readerFor(valSer)}
	t.st = newStore(t.partHash, t.encode, t.decode, t.expiresAt)
	t.st.keepsMapped = b.keyCopies && copies(nsSer) && copies(valSer)
	return t, b.register(t)
}

// All yields the live elements of the current key and namespace in
// insertion order. With RefreshOnRead, yielding an element counts as reading
// it.
func (t *List[K, N, V]) All() iter.Seq[V] {
	return func(yield func(V) bool) {
		k, h := t.key(), t.b.keyHash()
		now := t.now()
		refresh := t.ttl.Millis != 0 && t.ttl.RefreshOnRead
		l, _ := t.st.get(h, k)
		if len(l) > 0 && (refresh || t.aliasing) {
			// The caller may change what it is given: settle first.
			l = t.st.writable(h).m[k]
		}
		for i := range l {
			e := &l[i]
			if expired(e.exp, now) {
				continue
			}
			if refresh {
				e.exp = t.expiresAt(now)
			}
			if !yield(e.v) {
				return
			}
		}
	}
}

// Len implements backend.Table. It counts entries held in memory, including
// expired ones not reclaimed yet (see TTL).
func (t *List[K, N, V]) Len() int { return t.st.len() }

// Add appends v to the current list.
func (t *List[K, N, V]) Add(v V) {
	now := t.now()
	if t.sweepDue() {
		t.sweep(now)
	}
	k := t.key()
	sh := t.st.writable(t.b.keyHash())
	l, ok := sh.m[k]
	sh.m[k] = append(l, entry[V]{v: v, exp: t.expiresAt(now)})
	if !ok {
		t.st.grown(sh)
	}
}

// Update replaces the current list with vs; an empty vs clears it.
func (t *List[K, N, V]) Update(vs []V) {
	now := t.now()
	if t.sweepDue() {
		t.sweep(now)
	}
	if len(vs) == 0 {
		t.Clear()
		return
	}
	exp := t.expiresAt(now)
	l := make([]entry[V], len(vs))
	for i, v := range vs {
		l[i] = entry[V]{v: v, exp: exp}
	}
	sh := t.st.writable(t.b.keyHash())
	sh.m[t.key()] = l
	t.st.grown(sh)
}

// Clear removes the current list.
func (t *List[K, N, V]) Clear() {
	k, h := t.key(), t.b.keyHash()
	if _, ok := t.st.get(h, k); ok {
		delete(t.st.writable(h).m, k)
	}
}

// IsEmpty reports whether the current list has no live element. Without TTL
// it is one map lookup; with TTL it checks expiry (deleting the list if every
// element has expired) and does not count as reading an element.
func (t *List[K, N, V]) IsEmpty() bool {
	k, h := t.key(), t.b.keyHash()
	l, _ := t.st.get(h, k)
	if t.ttl.Millis == 0 || len(l) == 0 {
		return len(l) == 0
	}
	now := t.b.now()
	for i := range l {
		if !expired(l[i].exp, now) {
			return false
		}
	}
	delete(t.st.writable(h).m, k)
	return true
}

// Empty is IsEmpty, under the name the windowed operators call.
func (t *List[K, N, V]) Empty() bool { return t.IsEmpty() }

// sweep drops the expired elements of sweepSample lists, and the lists left
// empty.
func (t *List[K, N, V]) sweep(now int64) {
	sh := t.st.sweepShard(now)
	if !t.anyExpired(sh, now) {
		return
	}
	settled(sh)
	n := 0
	for k, l := range sh.m {
		live := 0
		for i := range l {
			if !expired(l[i].exp, now) {
				live++
			}
		}
		switch {
		case live == 0:
			delete(sh.m, k)
		case live < len(l):
			// A new slice rather than compacting in place: an All
			// iterator may still be walking the old one.
			kept := make([]entry[V], 0, live)
			for _, e := range l {
				if !expired(e.exp, now) {
					kept = append(kept, e)
				}
			}
			sh.m[k] = kept
		}
		if n++; n == sweepSample {
			return
		}
	}
}

// anyExpired reports whether the lists a sweep of sh examines hold an
// expired element; it only reads.
func (t *List[K, N, V]) anyExpired(sh *shard[nsKey[K, N], []entry[V]], now int64) bool {
	n := 0
	for _, l := range sh.m {
		for i := range l {
			if expired(l[i].exp, now) {
				return true
			}
		}
		if n++; n == sweepSample {
			break
		}
	}
	return false
}

// Capture implements backend.Table.
func (t *List[K, N, V]) Capture() backend.View { return t.st.capture(t.now()) }

// Entries implements backend.Table. The value is a uvarint count followed
// by the elements.
func (t *List[K, N, V]) Entries(r keyspace.Range, fn func(backend.Entry) error) error {
	return viewEntries(t.Capture(), r, fn)
}

// Reserve implements backend.Reserver.
func (t *List[K, N, V]) Reserve(n int, r keyspace.Range) { t.st.reserve(n, r.Lo, r.Hi) }

// encode encodes a shard's live lists; it may run on any goroutine.
func (t *List[K, N, V]) encode(out *encoded, m map[nsKey[K, N]][]entry[V], now int64) {
	for k, l := range m {
		live := 0
		for i := range l {
			if !expired(l[i].exp, now) {
				live++
			}
		}
		if live == 0 {
			continue
		}
		t.beginEntry(out, k)
		out.arena = binary.AppendUvarint(out.arena, uint64(live))
		for i := range l {
			if !expired(l[i].exp, now) {
				out.arena = t.valSer.Append(out.arena, l[i].v)
			}
		}
		out.markValue()
	}
}

// Map is a table holding a map from UK to UV per (key, namespace).
type Map[K, N, UK comparable, UV any] struct {
	table[K, N]
	st    store[nsKey[K, N], map[UK]entry[UV]]
	ukSer serde.Serializer[UK]
	uvSer serde.Serializer[UV]
	ukRd  reader[UK]
	uvRd  reader[UV]
}

// NewMap registers a map table; see NewValue.
func NewMap[K, N, UK comparable, UV any](b *Backend[K], name string, nsSer serde.Serializer[N], ukSer serde.Serializer[UK], uvSer serde.Serializer[UV], ttl TTL) (*Map[K, N, UK, UV], error) {
	if t, ok, err := lookup[*Map[K, N, UK, UV]](b, name); ok || err != nil {
		return t, err
	}
	if err := describable(name, schemaErr(b.keySer), schemaErr(nsSer), schemaErr(ukSer), schemaErr(uvSer)); err != nil {
		return nil, err
	}
	t := &Map[K, N, UK, UV]{table: table[K, N]{b: b, name: name, kind: backend.KindMap, nsSer: nsSer, nsNone: encodesNothing(nsSer), ttl: ttl, aliasing: holdsReferences(reflect.TypeFor[UV]())}, ukSer: ukSer, uvSer: uvSer, ukRd: readerFor(ukSer), uvRd: readerFor(uvSer)}
	t.st = newStore(t.partHash, t.encode, t.decode, t.expiresAt)
	t.st.keepsMapped = b.keyCopies && copies(nsSer) && copies(ukSer) && copies(uvSer)
	return t, b.register(t)
}

// Get returns the value under uk in the current map.
func (t *Map[K, N, UK, UV]) Get(uk UK) (UV, bool) {
	k, h := t.key(), t.b.keyHash()
	m, _ := t.st.get(h, k)
	e, ok := m[uk]
	if !ok {
		var zero UV
		return zero, false
	}
	if e.exp != 0 {
		now := t.b.now()
		if expired(e.exp, now) {
			sh := t.st.writable(h)
			delete(m, uk)
			if len(m) == 0 {
				delete(sh.m, k)
			}
			var zero UV
			return zero, false
		}
		if t.ttl.RefreshOnRead {
			t.st.writable(h)
			e.exp = t.expiresAt(now)
			m[uk] = e
		}
	}
	if t.aliasing {
		settled(t.st.at(h))
	}
	return e.v, true
}

// Put sets uk to uv in the current map.
func (t *Map[K, N, UK, UV]) Put(uk UK, uv UV) {
	now := t.now()
	if t.sweepDue() {
		t.sweep(now)
	}
	k := t.key()
	sh := t.st.writable(t.b.keyHash())
	m := sh.m[k]
	if m == nil {
		m = map[UK]entry[UV]{}
		sh.m[k] = m
		t.st.grown(sh)
	}
	m[uk] = entry[UV]{v: uv, exp: t.expiresAt(now)}
}

// sweep drops expired entries among sweepSample entries of each of
// sweepSample maps, and the maps left empty.
func (t *Map[K, N, UK, UV]) sweep(now int64) {
	sh := t.st.sweepShard(now)
	if !t.anyExpired(sh, now) {
		return
	}
	settled(sh)
	n := 0
	for k, m := range sh.m {
		i := 0
		for uk, e := range m {
			if expired(e.exp, now) {
				delete(m, uk)
			}
			if i++; i == sweepSample {
				break
			}
		}
		if len(m) == 0 {
			delete(sh.m, k)
		}
		if n++; n == sweepSample {
			return
		}
	}
}

// anyExpired reports whether the entries a sweep of sh examines hold an
// expired one; it only reads.
func (t *Map[K, N, UK, UV]) anyExpired(sh *shard[nsKey[K, N], map[UK]entry[UV]], now int64) bool {
	n := 0
	for _, m := range sh.m {
		i := 0
		for _, e := range m {
			if expired(e.exp, now) {
				return true
			}
			if i++; i == sweepSample {
				break
			}
		}
		if n++; n == sweepSample {
			break
		}
	}
	return false
}

// Remove deletes uk from the current map.
func (t *Map[K, N, UK, UV]) Remove(uk UK) {
	k, h := t.key(), t.b.keyHash()
	m, _ := t.st.get(h, k)
	if _, ok := m[uk]; !ok {
		return
	}
	sh := t.st.writable(h)
	delete(m, uk)
	if len(m) == 0 {
		delete(sh.m, k)
	}
}

// All yields the live entries of the current map in unspecified order. With
// RefreshOnRead, yielding an entry counts as reading it.
func (t *Map[K, N, UK, UV]) All() iter.Seq2[UK, UV] {
	return func(yield func(UK, UV) bool) {
		k, h := t.key(), t.b.keyHash()
		now := t.now()
		refresh := t.ttl.Millis != 0 && t.ttl.RefreshOnRead
		m, _ := t.st.get(h, k)
		if len(m) > 0 && (refresh || t.aliasing) {
			// The caller may change what it is given: settle first.
			m = t.st.writable(h).m[k]
		}
		for uk, e := range m {
			if expired(e.exp, now) {
				continue
			}
			if refresh {
				e.exp = t.expiresAt(now)
				m[uk] = e
			}
			if !yield(uk, e.v) {
				return
			}
		}
	}
}

// Clear removes the current map.
func (t *Map[K, N, UK, UV]) Clear() {
	k, h := t.key(), t.b.keyHash()
	if _, ok := t.st.get(h, k); ok {
		delete(t.st.writable(h).m, k)
	}
}

// Len implements backend.Table. It counts entries held in memory, including
// expired ones not reclaimed yet (see TTL).
func (t *Map[K, N, UK, UV]) Len() int { return t.st.len() }

// Capture implements backend.Table.
func (t *Map[K, N, UK, UV]) Capture() backend.View { return t.st.capture(t.now()) }

// Entries implements backend.Table. The value is a uvarint count followed
// by (user key, user value) pairs sorted by encoded user key.
func (t *Map[K, N, UK, UV]) Entries(r keyspace.Range, fn func(backend.Entry) error) error {
	return viewEntries(t.Capture(), r, fn)
}

// Reserve implements backend.Reserver.
func (t *Map[K, N, UK, UV]) Reserve(n int, r keyspace.Range) { t.st.reserve(n, r.Lo, r.Hi) }

// encode encodes a shard's live maps; it may run on any goroutine.
func (t *Map[K, N, UK, UV]) encode(out *encoded, m map[nsKey[K, N]]map[UK]entry[UV], now int64) {
	type kv struct{ k, v, end int } // offsets in buf
	var (
		buf []byte
		kvs []kv
	)
	for k, um := range m {
		buf, kvs = buf[:0], kvs[:0]
		for uk, e := range um {
			if expired(e.exp, now) {
				continue
			}
			x := kv{k: len(buf)}
			buf = t.ukSer.Append(buf, uk)
			x.v = len(buf)
			buf = t.uvSer.Append(buf, e.v)
			x.end = len(buf)
			kvs = append(kvs, x)
		}
		if len(kvs) == 0 {
			continue
		}
		slices.SortFunc(kvs, func(a, b kv) int { return bytes.Compare(buf[a.k:a.v], buf[b.k:b.v]) })
		t.beginEntry(out, k)
		out.arena = binary.AppendUvarint(out.arena, uint64(len(kvs)))
		for _, x := range kvs {
			out.arena = append(out.arena, buf[x.k:x.end]...)
		}
		out.markValue()
	}
}

// Restore implements backend.Table. The entry is decoded when its shard is
// first used (see store.restore).
func (t *Value[K, N, V]) Restore(e backend.Entry) error { return t.st.restore(e, t.now()) }

// RestoreRun implements backend.RunRestorer.
func (t *Value[K, N, V]) RestoreRun(run backend.Run) error { return t.st.restoreRun(run, t.now()) }

// decode adds the restored entry e to m.
func (t *Value[K, N, V]) decode(m map[nsKey[K, N]]*entry[V], sid int32, e backend.Entry, now int64) error {
	k, err := decodeKey(&t.table, e)
	if err != nil {
		return err
	}
	v, n, err := t.valRd.read(e.Value, &t.arena)
	if err != nil || n != len(e.Value) {
		return fmt.Errorf("state %q: undecodable value %x: %v", t.name, e.Value, errOr(err, n, len(e.Value)))
	}
	p := t.slab(sid).get()
	p.v, p.exp = v, t.expiresAt(now)
	m[k] = p
	return nil
}

// Restore implements backend.Table. The entry is decoded when its shard is
// first used (see store.restore).
func (t *List[K, N, V]) Restore(e backend.Entry) error { return t.st.restore(e, t.now()) }

// RestoreRun implements backend.RunRestorer.
func (t *List[K, N, V]) RestoreRun(run backend.Run) error { return t.st.restoreRun(run, t.now()) }

// decode adds the restored entry e to m.
func (t *List[K, N, V]) decode(m map[nsKey[K, N]][]entry[V], _ int32, e backend.Entry, now int64) error {
	k, err := decodeKey(&t.table, e)
	if err != nil {
		return err
	}
	cnt, off := binary.Uvarint(e.Value)
	if off <= 0 || cnt > uint64(len(e.Value)) {
		return fmt.Errorf("state %q: undecodable list length in %x", t.name, e.Value)
	}
	exp := t.expiresAt(now)
	l := make([]entry[V], 0, cnt)
	for i := uint64(0); i < cnt; i++ {
		v, n, err := t.valRd.read(e.Value[off:], &t.arena)
		if err != nil {
			return fmt.Errorf("state %q: list element %d: %w", t.name, i, err)
		}
		off += n
		l = append(l, entry[V]{v: v, exp: exp})
	}
	if off != len(e.Value) {
		return fmt.Errorf("state %q: %d trailing bytes after list", t.name, len(e.Value)-off)
	}
	m[k] = append(m[k], l...)
	return nil
}

// Restore implements backend.Table. The entry is decoded when its shard is
// first used (see store.restore).
func (t *Map[K, N, UK, UV]) Restore(e backend.Entry) error { return t.st.restore(e, t.now()) }

// RestoreRun implements backend.RunRestorer.
func (t *Map[K, N, UK, UV]) RestoreRun(run backend.Run) error { return t.st.restoreRun(run, t.now()) }

// decode adds the restored entry e to the map in m.
func (t *Map[K, N, UK, UV]) decode(m map[nsKey[K, N]]map[UK]entry[UV], _ int32, e backend.Entry, now int64) error {
	k, err := decodeKey(&t.table, e)
	if err != nil {
		return err
	}
	cnt, off := binary.Uvarint(e.Value)
	if off <= 0 || cnt > uint64(len(e.Value)) {
		return fmt.Errorf("state %q: undecodable map length in %x", t.name, e.Value)
	}
	um := m[k]
	if um == nil {
		um = make(map[UK]entry[UV], cnt)
		m[k] = um
	}
	exp := t.expiresAt(now)
	for i := uint64(0); i < cnt; i++ {
		uk, n, err := t.ukRd.read(e.Value[off:], &t.arena)
		if err != nil {
			return fmt.Errorf("state %q: map key %d: %w", t.name, i, err)
		}
		off += n
		uv, n, err := t.uvRd.read(e.Value[off:], &t.arena)
		if err != nil {
			return fmt.Errorf("state %q: map value %d: %w", t.name, i, err)
		}
		off += n
		um[uk] = entry[UV]{v: uv, exp: exp}
	}
	if off != len(e.Value) {
		return fmt.Errorf("state %q: %d trailing bytes after map", t.name, len(e.Value)-off)
	}
	return nil
}
