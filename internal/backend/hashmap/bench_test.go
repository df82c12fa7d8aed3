package hashmap_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// benchTable is a value table of n int64 keys with 48-byte values, the shape
// of the savepoint benchmark (internal/bench).
func benchTable(b *testing.B, n int) (*hashmap.Backend[int64], *hashmap.Value[int64, struct{}, []byte]) {
	hash, err := keyspace.HasherFor[int64]()
	if err != nil {
		b.Fatal(err)
	}
	be := hashmap.New[int64](serde.Int64{}, hash, func() int64 { return 0 })
	t, err := hashmap.NewValue[int64, struct{}, []byte](be, "payload", backend.KindValue, serde.Of[struct{}](), serde.Bytes{}, hashmap.TTL{})
	if err != nil {
		b.Fatal(err)
	}
	for k := range int64(n) {
		be.SetCurrentKey(k)
		v := make([]byte, benchValueBytes)
		binary.BigEndian.PutUint64(v, uint64(k))
		t.Put(v)
	}
	return be, t
}

// benchValueBytes is the value size of the benchmark tables: 48, or
// WEIR_VIEW_BENCH_VALUE_BYTES (at least 8). A bad value stops the run.
var benchValueBytes = func() int {
	s := os.Getenv("WEIR_VIEW_BENCH_VALUE_BYTES")
	if s == "" {
		return 48
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 8 {
		panic(fmt.Sprintf("WEIR_VIEW_BENCH_VALUE_BYTES=%q: want an integer >= 8", s))
	}
	return n
}()

// benchKeys is the table size of BenchmarkViewEntries: 1 Mi, or
// WEIR_VIEW_BENCH_KEYS (the savepoint benchmark holds 8 M per subtask).
func benchKeys(b *testing.B) int {
	n := 1 << 20
	if s := os.Getenv("WEIR_VIEW_BENCH_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("WEIR_VIEW_BENCH_KEYS=%q: want a positive number", s)
		}
	}
	return n
}

// BenchmarkViewEntries measures reading a captured view: encoding and
// sorting, per entry (b.N entries), through Entries and through
// EncodedEntries (what a savepoint uses). WEIR_VIEW_BENCH_KEYS and
// WEIR_VIEW_BENCH_VALUE_BYTES change the table's shape.
func BenchmarkViewEntries(b *testing.B) {
	_, t := benchTable(b, benchKeys(b))
	benchCapture(b, t)
}

// benchCapture reads captures of t until b.N entries are read, entry by
// entry and encoded.
func benchCapture(b *testing.B, t backend.Table) {
	b.Run("entries", func(b *testing.B) {
		benchRead(b, t, func(v backend.View, n *int) error {
			return v.Entries(func(backend.Entry) error { *n++; return nil })
		})
	})
	b.Run("encoded", func(b *testing.B) {
		benchRead(b, t, func(v backend.View, n *int) error {
			return v.(backend.EncodedView).EncodedEntries(func(_ []byte, spans []backend.Span) error { *n += len(spans); return nil })
		})
	})
}

func benchRead(b *testing.B, t backend.Table, read func(v backend.View, n *int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		v := t.Capture()
		err := read(v, &n)
		v.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkViewEntriesInline is BenchmarkViewEntries for values held in the
// entries themselves (48 bytes, no pointers), as aggregates usually are.
func BenchmarkViewEntriesInline(b *testing.B) {
	hash, err := keyspace.HasherFor[int64]()
	if err != nil {
		b.Fatal(err)
	}
	be := hashmap.New[int64](serde.Int64{}, hash, func() int64 { return 0 })
	t, err := hashmap.NewValue[int64, struct{}, [6]int64](be, "payload", backend.KindValue, serde.Of[struct{}](), serde.Of[[6]int64](), hashmap.TTL{})
	if err != nil {
		b.Fatal(err)
	}
	for k := range int64(benchKeys(b)) {
		be.SetCurrentKey(k)
		t.Put([6]int64{k})
	}
	benchCapture(b, t)
}

// BenchmarkRestore measures restoring entries into a reserved table, per
// entry: load only (the entries are kept raw), and load+decode, where a Get
// in every shard decodes them as a shard's first use does.
func BenchmarkRestore(b *testing.B) {
	b.Run("load", func(b *testing.B) { benchRestore(b, false) })
	b.Run("load+decode", func(b *testing.B) { benchRestore(b, true) })
	b.Run("runs", func(b *testing.B) { benchRestoreRuns(b, false) })
	b.Run("indexed-runs", func(b *testing.B) { benchRestoreRuns(b, true) })
}

// benchRestoreRuns measures loading entries in runs of about 64 KiB, as a
// restore from a savepoint hands them over (per entry): with the offsets of
// their entries (indexed), as a reader gives them, or without.
func benchRestoreRuns(b *testing.B, indexed bool) {
	_, t := benchTable(b, 1<<20)
	var runs []backend.Run
	cur := backend.Run{}
	if err := t.Entries(keyspace.Full, func(e backend.Entry) error {
		if indexed {
			cur.Offsets = append(cur.Offsets, uint32(len(cur.Bytes)))
			cur.Distinct = true // one namespace per key, distinct hashes
		}
		cur.Bytes = backend.AppendEncoded(cur.Bytes, e)
		if cur.N++; len(cur.Bytes) >= 64<<10 {
			runs = append(runs, cur)
			cur = backend.Run{}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if cur.N > 0 {
		runs = append(runs, cur)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		b.StopTimer()
		_, t2 := benchTable(b, 0)
		b.StartTimer()
		t2.Reserve(1<<20, keyspace.Full)
		for _, r := range runs {
			if err := t2.RestoreRun(r); err != nil {
				b.Fatal(err)
			}
			n += r.N
		}
	}
}

func benchRestore(b *testing.B, touch bool) {
	_, t := benchTable(b, 1<<20)
	var es []backend.Entry
	if err := t.Entries(keyspace.Full, func(e backend.Entry) error {
		es = append(es, backend.Entry{Hash: e.Hash, Key: append([]byte(nil), e.Key...), Namespace: append([]byte(nil), e.Namespace...), Value: append([]byte(nil), e.Value...)})
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		b.StopTimer()
		be2, t2 := benchTable(b, 0)
		b.StartTimer()
		t2.Reserve(len(es), keyspace.Full)
		start := n
		for _, e := range es {
			if err := t2.Restore(e); err != nil {
				b.Fatal(err)
			}
			if n++; n == b.N {
				break
			}
		}
		if touch {
			// One Get per 256 entries in hash order touches every
			// shard (each holds about 2,048 of them).
			for i := 0; i < n-start; i += 256 {
				be2.SetCurrentKey(int64(binary.BigEndian.Uint64(es[i].Key)))
				if _, ok := t2.Get(); !ok {
					b.Fatal("a restored key is missing")
				}
			}
		}
	}
}

// BenchmarkCapture measures the synchronous part of a snapshot of a table
// with 1 Mi entries (per capture).
func BenchmarkCapture(b *testing.B) {
	_, t := benchTable(b, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t.Capture().Release()
	}
}

// BenchmarkBytesPut measures writing 48-byte []byte values, each made fresh
// as a job makes them: to new keys (insert), and over 1 Mi existing keys
// (update), where replaced values make the shards' arenas compact.
func BenchmarkBytesPut(b *testing.B) {
	for _, mode := range []string{"insert", "update"} {
		b.Run(mode, func(b *testing.B) {
			be, t := benchTable(b, 0)
			keys := int64(1 << 20)
			if mode == "update" {
				be, t = benchTable(b, int(keys))
			}
			b.ReportAllocs()
			k := int64(0)
			for b.Loop() {
				if mode == "update" {
					be.SetCurrentKey(k * 7919 % keys)
				} else {
					be.SetCurrentKey(k)
				}
				v := make([]byte, 48)
				binary.BigEndian.PutUint64(v, uint64(k))
				t.Put(v)
				k++
			}
		})
	}
}
