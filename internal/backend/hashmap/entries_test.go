package hashmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

type clock struct{ now int64 }

func (c *clock) Now() int64 { return c.now }

// fixture is a backend with a value, a list and a map table holding state
// for many keys and namespaces.
type fixture struct {
	b     *hashmap.Backend[string]
	hash  func(string) uint64
	clock *clock
	value *hashmap.Value[string, int64, int64]
	list  *hashmap.List[string, int64, string]
	m     *hashmap.Map[string, int64, string, int64]
	// entries per table: the number of (key, namespace) pairs written
	n int
}

func newFixture(t *testing.T, keys int) *fixture {
	t.Helper()
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{hash: hash, clock: &clock{now: 1000}}
	f.b = hashmap.New[string](serde.String{}, hash, f.clock.Now)
	if f.value, err = hashmap.NewValue[string, int64, int64](f.b, "value", backend.KindValue, serde.Int64{}, serde.Int64{}, hashmap.TTL{}); err != nil {
		t.Fatal(err)
	}
	if f.list, err = hashmap.NewList[string, int64, string](f.b, "list", serde.Int64{}, serde.String{}, hashmap.TTL{}); err != nil {
		t.Fatal(err)
	}
	if f.m, err = hashmap.NewMap[string, int64, string, int64](f.b, "map", serde.Int64{}, serde.String{}, serde.Int64{}, hashmap.TTL{}); err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		k := fmt.Sprintf("key-%d", i)
		f.b.SetCurrentKey(k)
		// 1 to 3 namespaces per key, some negative (they encode above
		// the positive ones in two's complement).
		for ns := int64(-1); ns < int64(i%3); ns++ {
			f.value.SetNamespace(ns)
			f.value.Put(int64(i)*10 + ns)
			f.list.SetNamespace(ns)
			f.list.Add(k)
			f.list.Add(fmt.Sprint(ns))
			f.m.SetNamespace(ns)
			f.m.Put("z", ns)
			f.m.Put("a", int64(i))
			f.n++
		}
	}
	return f
}

type entry struct {
	hash      uint64
	key, ns   string
	value     string
	tableName string
}

func collect(t *testing.T, tb backend.Table, r keyspace.Range) []entry {
	t.Helper()
	var out []entry
	err := tb.Entries(r, func(e backend.Entry) error {
		// The slices are valid only during the call: copy them.
		out = append(out, entry{e.Hash, string(e.Key), string(e.Namespace), string(e.Value), tb.Name()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareEntries(a, b entry) int {
	if a.hash != b.hash {
		if a.hash < b.hash {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return strings.Compare(a.ns, b.ns)
}

// TestEntriesFullRange checks the canonical encoding and order of every
// table's entries.
func TestEntriesFullRange(t *testing.T) {
	f := newFixture(t, 300)
	for _, tb := range f.b.Tables() {
		t.Run(tb.Name(), func(t *testing.T) {
			all := collect(t, tb, keyspace.Full)
			if len(all) != f.n || tb.Len() != f.n {
				t.Fatalf("%d entries, Len %d, want %d", len(all), tb.Len(), f.n)
			}
			for i, e := range all {
				key, n, err := serde.String{}.Read([]byte(e.key))
				if err != nil || n != len(e.key) {
					t.Fatalf("entry %d: key %q does not decode: %v", i, e.key, err)
				}
				if f.hash(key) != e.hash {
					t.Fatalf("entry %d: hash %x, want hash of %q = %x", i, e.hash, key, f.hash(key))
				}
				if keyspace.Hash([]byte(e.key)) != e.hash {
					t.Fatalf("entry %d: hash is not the hash of the key's canonical encoding", i)
				}
				ns, _, err := serde.Int64{}.Read([]byte(e.ns))
				if err != nil {
					t.Fatal(err)
				}
				var idx int64
				fmt.Sscanf(key, "key-%d", &idx)
				want := wantValue(tb.Name(), key, idx, ns)
				if !bytes.Equal([]byte(e.value), want) {
					t.Fatalf("entry %d (%s, %d): value %x, want %x", i, key, ns, e.value, want)
				}
				if i > 0 && compareEntries(all[i-1], e) >= 0 {
					t.Fatalf("entries %d and %d out of (hash, key, namespace) order: %+v, %+v", i-1, i, all[i-1], e)
				}
			}
		})
	}
}

func wantValue(table, key string, idx, ns int64) []byte {
	switch table {
	case "value":
		return serde.Int64{}.Append(nil, idx*10+ns)
	case "list":
		b := binary.AppendUvarint(nil, 2)
		b = serde.String{}.Append(b, key)
		return serde.String{}.Append(b, fmt.Sprint(ns))
	default: // map, sorted by encoded user key: "a" before "z"
		b := binary.AppendUvarint(nil, 2)
		b = serde.Int64{}.Append(serde.String{}.Append(b, "a"), idx)
		return serde.Int64{}.Append(serde.String{}.Append(b, "z"), ns)
	}
}

// TestEntriesByRange checks that enumerating the range of each subtask of p
// yields exactly the hashes of that range, and that the ranges of all p
// subtasks together yield every entry exactly once, in order: what
// restoring at another parallelism relies on.
func TestEntriesByRange(t *testing.T) {
	f := newFixture(t, 400)
	for _, tb := range f.b.Tables() {
		all := collect(t, tb, keyspace.Full)
		for p := 1; p <= 7; p++ {
			t.Run(fmt.Sprintf("%s/p=%d", tb.Name(), p), func(t *testing.T) {
				var union []entry
				for i := range p {
					r := keyspace.RangeOf(i, p)
					part := collect(t, tb, r)
					if len(part) == 0 {
						t.Errorf("subtask %d of %d owns none of 400 keys", i, p)
					}
					for _, e := range part {
						if !r.Contains(e.hash) || keyspace.Owner(e.hash, p) != i {
							t.Fatalf("range %v of subtask %d yielded hash %x", r, i, e.hash)
						}
					}
					union = append(union, part...)
				}
				if !slices.Equal(union, all) {
					t.Fatalf("the %d ranges yield %d entries; the full range %d (or a different order)", p, len(union), len(all))
				}
			})
		}
	}
}

func TestEntriesArbitraryRanges(t *testing.T) {
	f := newFixture(t, 200)
	all := collect(t, f.value, keyspace.Full)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		a, b := rng.Uint64(), rng.Uint64()
		r := keyspace.Range{Lo: min(a, b), Hi: max(a, b)}
		var want []entry
		for _, e := range all {
			if r.Contains(e.hash) {
				want = append(want, e)
			}
		}
		if got := collect(t, f.value, r); !slices.Equal(got, want) {
			t.Fatalf("range %v: %d entries, want %d", r, len(got), len(want))
		}
	}
	// A single hash.
	h := all[17].hash
	if got := collect(t, f.value, keyspace.Range{Lo: h, Hi: h}); len(got) == 0 || got[0].hash != h {
		t.Fatalf("range of the single hash %x yielded %v", h, got)
	}
}

func TestEntriesStopsOnError(t *testing.T) {
	f := newFixture(t, 50)
	stop := errors.New("stop")
	n := 0
	err := f.list.Entries(keyspace.Full, func(backend.Entry) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("Entries returned %v after %d calls, want the callback's error after 3", err, n)
	}
}

// TestEntriesSkipExpired checks that TTL-expired state never reaches a
// snapshot: whole values, and single list elements and map entries.
func TestEntriesSkipExpired(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	c := &clock{now: 0}
	b := hashmap.New[string](serde.String{}, hash, c.Now)
	ttl := hashmap.TTL{Millis: 100}
	v, _ := hashmap.NewValue[string, int64, int64](b, "v", backend.KindValue, serde.Int64{}, serde.Int64{}, ttl)
	l, _ := hashmap.NewList[string, int64, int64](b, "l", serde.Int64{}, serde.Int64{}, ttl)
	m, _ := hashmap.NewMap[string, int64, int64, int64](b, "m", serde.Int64{}, serde.Int64{}, serde.Int64{}, ttl)
	b.SetCurrentKey("old")
	v.Put(1)
	l.Add(1)
	m.Put(1, 1)
	c.now = 50
	b.SetCurrentKey("young")
	v.Put(2)
	l.Add(2)
	m.Put(2, 2)
	b.SetCurrentKey("old")
	l.Add(3)
	m.Put(3, 3)
	c.now = 100 // "old"'s first writes expire
	keys := func(tb backend.Table) []string {
		var out []string
		for _, e := range collect(t, tb, keyspace.Full) {
			k, _, _ := serde.String{}.Read([]byte(e.key))
			out = append(out, fmt.Sprintf("%s=%x", k, e.value))
		}
		slices.Sort(out)
		return out
	}
	enc := func(vals ...int64) string {
		var b []byte
		if len(vals) > 1 {
			b = binary.AppendUvarint(b, uint64(len(vals)/2))
		}
		for _, x := range vals {
			b = serde.Int64{}.Append(b, x)
		}
		return fmt.Sprintf("%x", b)
	}
	list := func(x int64) string {
		return fmt.Sprintf("%x", serde.Int64{}.Append(binary.AppendUvarint(nil, 1), x))
	}
	if got, want := keys(v), []string{"young=" + enc(2)}; !slices.Equal(got, want) {
		t.Errorf("value entries %v, want %v", got, want)
	}
	if got, want := keys(l), []string{"old=" + list(3), "young=" + list(2)}; !slices.Equal(got, want) {
		t.Errorf("list entries %v, want %v", got, want)
	}
	if got, want := keys(m), []string{"old=" + enc(3, 3), "young=" + enc(2, 2)}; !slices.Equal(got, want) {
		t.Errorf("map entries %v, want %v", got, want)
	}
	c.now = 1000
	for _, tb := range b.Tables() {
		if got := collect(t, tb, keyspace.Full); len(got) != 0 {
			t.Errorf("%s: %d entries after everything expired", tb.Name(), len(got))
		}
	}
}

func TestRegistration(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	b := hashmap.New[string](serde.String{}, hash, func() int64 { return 0 })
	v1, err := hashmap.NewValue[string, int64, int64](b, "s", backend.KindValue, serde.Int64{}, serde.Int64{}, hashmap.TTL{})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := hashmap.NewValue[string, int64, int64](b, "s", backend.KindValue, serde.Int64{}, serde.Int64{}, hashmap.TTL{})
	if err != nil || v1 != v2 {
		t.Fatalf("registering the same state again: %v, same table %v", err, v1 == v2)
	}
	if _, err := hashmap.NewValue[string, int64, int64](b, "s", backend.KindReducing, serde.Int64{}, serde.Int64{}, hashmap.TTL{}); err == nil {
		t.Error("value state re-registered as reducing state")
	}
	if _, err := hashmap.NewValue[string, int64, string](b, "s", backend.KindValue, serde.Int64{}, serde.String{}, hashmap.TTL{}); err == nil {
		t.Error("value state re-registered with another value type")
	}
	if _, err := hashmap.NewList[string, int64, int64](b, "s", serde.Int64{}, serde.Int64{}, hashmap.TTL{}); err == nil {
		t.Error("value state re-registered as list state")
	}
	if _, err := hashmap.NewMap[string, int64, int64, int64](b, "s", serde.Int64{}, serde.Int64{}, serde.Int64{}, hashmap.TTL{}); err == nil {
		t.Error("value state re-registered as map state")
	}
	if got := b.Table("s"); got == nil || got.Kind() != backend.KindValue || len(b.Tables()) != 1 {
		t.Errorf("after failed registrations: Table(s) = %v, %d tables", got, len(b.Tables()))
	}
	if b.Table("missing") != nil {
		t.Error("Table of an unknown name is not nil")
	}
}
