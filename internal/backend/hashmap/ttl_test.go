package hashmap_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// ttlTable drives one table kind through the same script.
type ttlTable struct {
	name  string
	write func(key string, v int64) // one write of the current key
	read  func(key string) (int64, bool)
	len   func() int
}

// ttlTables returns one table of every kind, each with TTL ttl, in a backend
// whose clock is c. Value tables are written both with Put and with Slot.
func ttlTables(t *testing.T, c *clock, ttl hashmap.TTL) []ttlTable {
	t.Helper()
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	b := hashmap.New[string](serde.String{}, hash, c.Now)
	v, err := hashmap.NewValue[string, int64, int64](b, "value", backend.KindValue, serde.Int64{}, serde.Int64{}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	s, err := hashmap.NewValue[string, int64, int64](b, "slot", backend.KindAggregating, serde.Int64{}, serde.Int64{}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	l, err := hashmap.NewList[string, int64, int64](b, "list", serde.Int64{}, serde.Int64{}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	u, err := hashmap.NewList[string, int64, int64](b, "list-update", serde.Int64{}, serde.Int64{}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hashmap.NewMap[string, int64, string, int64](b, "map", serde.Int64{}, serde.String{}, serde.Int64{}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	last := func(seq func(func(int64) bool)) (int64, bool) {
		var x int64
		ok := false
		for v := range seq {
			x, ok = v, true
		}
		return x, ok
	}
	return []ttlTable{
		{"value", func(k string, x int64) { b.SetCurrentKey(k); v.Put(x) },
			func(k string) (int64, bool) { b.SetCurrentKey(k); return v.Get() }, v.Len},
		{"slot", func(k string, x int64) { b.SetCurrentKey(k); p, _ := s.Slot(); *p = x },
			func(k string) (int64, bool) { b.SetCurrentKey(k); return s.Get() }, s.Len},
		{"list", func(k string, x int64) { b.SetCurrentKey(k); l.Add(x) },
			func(k string) (int64, bool) { b.SetCurrentKey(k); return last(l.All()) }, l.Len},
		{"list-update", func(k string, x int64) { b.SetCurrentKey(k); u.Update([]int64{x}) },
			func(k string) (int64, bool) { b.SetCurrentKey(k); return last(u.All()) }, u.Len},
		{"map", func(k string, x int64) { b.SetCurrentKey(k); m.Put("uk", x) },
			func(k string) (int64, bool) { b.SetCurrentKey(k); return m.Get("uk") }, m.Len},
	}
}

// TestTTLReclaimsExpiredKeys: keys that expire and are never touched again
// are reclaimed by the writes to other keys, within a bounded number of
// writes.
func TestTTLReclaimsExpiredKeys(t *testing.T) {
	const (
		expiring = 1000
		live     = 8
		// Each sweep examines 16 entries; allow four times the writes
		// that would sweep every expired key once.
		bound = 64 * expiring / 16 * 4
	)
	c := &clock{now: 0}
	for _, tb := range ttlTables(t, c, hashmap.TTL{Millis: 100}) {
		t.Run(tb.name, func(t *testing.T) {
			c.now = 0
			for i := range expiring {
				tb.write(fmt.Sprintf("old-%d", i), int64(i))
			}
			c.now = 1000
			writes, prev := 0, tb.len()
			for ; writes < bound && tb.len() > live; writes++ {
				tb.write(fmt.Sprintf("live-%d", writes%live), int64(writes))
				if n := tb.len(); n > prev+1 {
					t.Fatalf("Len grew from %d to %d", prev, n)
				} else {
					prev = n
				}
			}
			if n := tb.len(); n != live {
				t.Fatalf("Len = %d after %d writes to %d live keys, want %d", n, writes, live, live)
			}
			t.Logf("%d expired keys reclaimed within %d writes", expiring, writes)
			for i := range live {
				if _, ok := tb.read(fmt.Sprintf("live-%d", i)); !ok {
					t.Errorf("live key %d lost", i)
				}
			}
			if _, ok := tb.read("old-0"); ok {
				t.Error("an expired key is visible")
			}
		})
	}
}

// TestTTLSweepCadence: a table with TTL sweeps on every 64th write, and
// only then.
func TestTTLSweepCadence(t *testing.T) {
	c := &clock{now: 0}
	for _, tb := range ttlTables(t, c, hashmap.TTL{Millis: 100}) {
		t.Run(tb.name, func(t *testing.T) {
			c.now = 0
			for i := range 640 { // a multiple of 64: the next sweep is 64 writes away
				tb.write(fmt.Sprintf("old-%d", i), 1)
			}
			c.now = 1000
			for range 63 {
				tb.write("live", 2)
			}
			if n := tb.len(); n != 641 {
				t.Fatalf("Len = %d before the 64th write, want 641 (no sweep yet)", n)
			}
			tb.write("live", 2)
			// The sweep examined 16 entries, at most one of them live.
			if n := tb.len(); n > 641-15 {
				t.Fatalf("Len = %d after the 64th write, want at most %d", n, 641-15)
			}
		})
	}
}

// TestTTLSweepDropsExpiredElements: sweeps drop expired elements of lists
// and entries of maps that are still alive, and keep the live ones.
func TestTTLSweepDropsExpiredElements(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	c := &clock{now: 0}
	b := hashmap.New[string](serde.String{}, hash, c.Now)
	ttl := hashmap.TTL{Millis: 100}
	l, _ := hashmap.NewList[string, int64, int64](b, "l", serde.Int64{}, serde.Int64{}, ttl)
	m, _ := hashmap.NewMap[string, int64, int64, int64](b, "m", serde.Int64{}, serde.Int64{}, serde.Int64{}, ttl)
	const keys = 10
	for i := range keys {
		b.SetCurrentKey(fmt.Sprint(i))
		l.Add(1)
		m.Put(1, 1)
	}
	c.now = 50
	for i := range keys {
		b.SetCurrentKey(fmt.Sprint(i))
		l.Add(2)
		m.Put(2, 2)
	}
	c.now = 120 // the first elements expired, the second not
	b.SetCurrentKey("other")
	for range 64 * 16 {
		l.Add(3)
		m.Put(3, 3)
	}
	if got, want := hashmap.StoredElements(l), keys+64*16; got != want {
		t.Errorf("lists hold %d elements, want %d", got, want)
	}
	if got, want := hashmap.StoredEntries(m), keys+1; got != want {
		t.Errorf("maps hold %d entries, want %d", got, want)
	}
	for i := range keys {
		b.SetCurrentKey(fmt.Sprint(i))
		if got := slices.Collect(l.All()); !slices.Equal(got, []int64{2}) {
			t.Errorf("list %d = %v, want [2]", i, got)
		}
		if _, ok := m.Get(2); !ok {
			t.Errorf("map %d lost its live entry", i)
		}
	}
}

// TestMapGetDropsEmptyMap: reading the last, expired entry of a map removes
// the map.
func TestMapGetDropsEmptyMap(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	c := &clock{now: 0}
	b := hashmap.New[string](serde.String{}, hash, c.Now)
	m, _ := hashmap.NewMap[string, int64, string, int64](b, "m", serde.Int64{}, serde.String{}, serde.Int64{}, hashmap.TTL{Millis: 100})
	b.SetCurrentKey("k")
	m.Put("a", 1)
	m.Put("b", 2)
	c.now = 100
	if _, ok := m.Get("a"); ok {
		t.Fatal("expired entry visible")
	}
	if m.Len() != 1 || hashmap.StoredEntries(m) != 1 {
		t.Fatalf("after one expired read: Len %d, %d entries; want 1, 1", m.Len(), hashmap.StoredEntries(m))
	}
	if _, ok := m.Get("b"); ok {
		t.Fatal("expired entry visible")
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d after the last entry expired, want 0", m.Len())
	}
}

func TestListIsEmpty(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	c := &clock{now: 0}
	b := hashmap.New[string](serde.String{}, hash, c.Now)
	plain, _ := hashmap.NewList[string, int64, int64](b, "plain", serde.Int64{}, serde.Int64{}, hashmap.TTL{})
	ttl, _ := hashmap.NewList[string, int64, int64](b, "ttl", serde.Int64{}, serde.Int64{}, hashmap.TTL{Millis: 100, RefreshOnRead: true})
	b.SetCurrentKey("k")
	for _, l := range []*hashmap.List[string, int64, int64]{plain, ttl} {
		if !l.IsEmpty() || !l.Empty() {
			t.Fatalf("%s: new list not empty", l.Name())
		}
		l.Add(1)
		if l.IsEmpty() || l.Empty() {
			t.Fatalf("%s: list with an element empty", l.Name())
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = plain.IsEmpty() }); n != 0 {
		t.Errorf("IsEmpty without TTL allocates %v times", n)
	}
	c.now = 50
	if ttl.IsEmpty() {
		t.Fatal("list empty before its element expired")
	}
	c.now = 100 // IsEmpty at 50 did not count as a read
	if !ttl.IsEmpty() || ttl.Len() != 0 {
		t.Fatalf("after expiry: IsEmpty %v, Len %d; want true, 0", ttl.IsEmpty(), ttl.Len())
	}
}

// TestClockReads: tables without TTL never read the clock; tables with TTL
// read it once per operation.
func TestClockReads(t *testing.T) {
	hash, _ := keyspace.HasherFor[string]()
	for _, ttl := range []hashmap.TTL{{}, {Millis: 100, RefreshOnRead: true}} {
		reads := 0
		b := hashmap.New[string](serde.String{}, hash, func() int64 { reads++; return 0 })
		v, _ := hashmap.NewValue[string, int64, int64](b, "v", backend.KindValue, serde.Int64{}, serde.Int64{}, ttl)
		l, _ := hashmap.NewList[string, int64, int64](b, "l", serde.Int64{}, serde.Int64{}, ttl)
		m, _ := hashmap.NewMap[string, int64, int64, int64](b, "m", serde.Int64{}, serde.Int64{}, serde.Int64{}, ttl)
		b.SetCurrentKey("k")
		want := 0
		if ttl.Millis != 0 {
			want = 1
		}
		// In order: reads find what the writes before them wrote.
		for _, o := range []struct {
			name string
			op   func()
		}{
			{"Value.Put", func() { v.Put(1) }},
			{"Value.Get", func() { v.Get() }},
			{"Value.Slot", func() { v.Slot() }},
			{"List.Add", func() { l.Add(1) }},
			{"List.Update", func() { l.Update([]int64{1, 2}) }},
			{"List.All", func() { _ = slices.Collect(l.All()) }},
			{"List.IsEmpty", func() { l.IsEmpty() }},
			{"Map.Put", func() { m.Put(1, 1) }},
			{"Map.Get", func() { m.Get(1) }},
			{"Map.All", func() {
				for range m.All() {
				}
			}},
		} {
			for range 100 { // including sweeps
				reads = 0
				o.op()
				if reads != want {
					t.Fatalf("TTL %+v: %s read the clock %d times, want %d", ttl, o.name, reads, want)
				}
			}
		}
	}
}

// BenchmarkValuePut measures a write with and without TTL (whose cost is a
// clock read and, every 64th write, a sweep).
func BenchmarkValuePut(b *testing.B) {
	hash, _ := keyspace.HasherFor[string]()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	for _, ttl := range []hashmap.TTL{{}, {Millis: 100}} {
		b.Run(fmt.Sprintf("ttl=%d", ttl.Millis), func(b *testing.B) {
			now := int64(0)
			be := hashmap.New[string](serde.String{}, hash, func() int64 { return now })
			v, _ := hashmap.NewValue[string, int64, int64](be, "v", backend.KindValue, serde.Int64{}, serde.Int64{}, ttl)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				be.SetCurrentKey(keys[i%len(keys)])
				v.Put(int64(i))
				i++
				now = int64(i / 100)
			}
		})
	}
}
