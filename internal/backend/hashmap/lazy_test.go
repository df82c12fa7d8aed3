package hashmap_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// restoreAll restores every table of src into the same table of dst, with
// or without reserving first, entry by entry or (runs) in runs of 1 to 300
// entries.
func restoreAll(t *testing.T, src, dst *fixture, reserve, runs bool) [][]entry {
	t.Helper()
	var wants [][]entry
	for _, pair := range [][2]backend.Table{{src.value, dst.value}, {src.list, dst.list}, {src.m, dst.m}} {
		want := collect(t, pair[0], keyspace.Full)
		if reserve {
			pair[1].(backend.Reserver).Reserve(len(want), keyspace.Full)
		}
		var run []byte
		n := 0
		for i, e := range want {
			be := backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)}
			if !runs {
				if err := pair[1].Restore(be); err != nil {
					t.Fatal(err)
				}
				continue
			}
			run = backend.AppendEncoded(run, be)
			if n++; n == 1+i*7919%300 || i == len(want)-1 {
				if err := pair[1].(backend.RunRestorer).RestoreRun(run, n); err != nil {
					t.Fatal(err)
				}
				run, n = run[:0], 0
			}
		}
		wants = append(wants, want)
	}
	return wants
}

// TestLazyRestore: restored entries are decoded when their shard is first
// touched. Before and after any touch, the tables count, read, snapshot and
// modify exactly as if everything had been decoded at once; a view taken
// before the task touches a shard shows the restored entries even when the
// task decodes and changes that shard while the view is read.
func TestLazyRestore(t *testing.T) {
	for _, mode := range []struct{ reserve, runs bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
		reserve := mode.reserve
		t.Run(fmt.Sprintf("reserve=%v/runs=%v", reserve, mode.runs), func(t *testing.T) {
			src := newFixture(t, 6000)
			dst := newFixture(t, 0)
			wants := restoreAll(t, src, dst, reserve, mode.runs)
			dst.n = src.n // mutate changes as many keys in both
			tables := []backend.Table{dst.value, dst.list, dst.m}
			for i, tb := range tables {
				if tb.Len() != len(wants[i]) {
					t.Fatalf("%s: Len %d before any touch, want %d", tb.Name(), tb.Len(), len(wants[i]))
				}
			}
			// A view of the untouched tables, read while the task
			// touches and changes every key.
			views := make([]backend.View, len(tables))
			for i, tb := range tables {
				views[i] = tb.Capture()
			}
			got := make([][]entry, len(tables))
			errs := make([]error, len(tables))
			var wg sync.WaitGroup
			for i, v := range views {
				wg.Go(func() { got[i], errs[i] = readAll(v, tables[i].Name()) })
			}
			// Reads first: every restored value is there.
			for i := range 6000 {
				k := fmt.Sprintf("key-%d", i)
				dst.b.SetCurrentKey(k)
				for ns := int64(-1); ns < int64(i%3); ns++ {
					dst.value.SetNamespace(ns)
					if v, ok := dst.value.Get(); !ok || v != int64(i)*10+ns {
						t.Fatalf("%s/%d: Get = %d, %v after restore", k, ns, v, ok)
					}
				}
			}
			mutate(dst, 1)
			wg.Wait()
			for i, v := range views {
				v.Release()
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				want := slices.Clone(wants[i])
				for j := range want {
					want[j].tableName = tables[i].Name()
				}
				if !slices.Equal(got[i], want) {
					t.Fatalf("%s: the view of the restored table holds %d entries, want the %d restored", tables[i].Name(), len(got[i]), len(want))
				}
			}
			// After the changes, the tables equal a fixture that was
			// never snapshotted and got the same changes.
			mutate(src, 1)
			for i, tb := range tables {
				want := collect(t, []backend.Table{src.value, src.list, src.m}[i], keyspace.Full)
				if got := collect(t, tb, keyspace.Full); !slices.Equal(got, want) {
					t.Fatalf("%s: after the same changes, %d entries differ from the never-restored table's %d", tb.Name(), len(got), len(want))
				}
			}
			if !reserve {
				if n := hashmap.Shards(dst.value); n < 4 {
					t.Errorf("a table restored without Reserve stayed in %d shards", n)
				}
			}
		})
	}
}

// TestLazyRestoreUndecodable: the first entry a restore keeps raw for a
// shard is decoded as a check, so a serializer that cannot read the
// snapshot fails the restore (ErrUndecodable; the restore adds operator and
// state), entry by entry and in runs. A later undecodable entry of the shard is accepted
// (it is not decoded yet) and fails the first touch of its shard with an
// error naming the state. Past the raw limit a restore decodes at once,
// and then Restore returns the error itself.
func TestLazyRestoreUndecodable(t *testing.T) {
	f := newFixture(t, 0)
	bad := backend.Entry{Hash: f.hash("k"), Key: []byte("\x01k"), Namespace: []byte{0, 0, 0, 0, 0, 0, 0, 0}, Value: []byte{1, 2}}
	for name, restore := range map[string]func() error{
		"entry": func() error { return f.value.Restore(bad) },
		"run":   func() error { return newFixture(t, 0).value.RestoreRun(backend.AppendEncoded(nil, bad), 1) },
	} {
		if err := restore(); !errors.Is(err, hashmap.ErrUndecodable) {
			t.Fatalf("%s: restoring an undecodable first entry: %v, want ErrUndecodable", name, err)
		}
	}
	// Lists and maps are checked the same way (by decoding into a scratch
	// map): a value that is not a list of strings, or a map of strings to
	// int64s.
	for name, restore := range map[string]func() error{
		"list run":   func() error { return newFixture(t, 0).list.RestoreRun(backend.AppendEncoded(nil, bad), 1) },
		"map run":    func() error { return newFixture(t, 0).m.RestoreRun(backend.AppendEncoded(nil, bad), 1) },
		"list entry": func() error { return newFixture(t, 0).list.Restore(bad) },
		"map entry":  func() error { return newFixture(t, 0).m.Restore(bad) },
	} {
		if err := restore(); !errors.Is(err, hashmap.ErrUndecodable) {
			t.Fatalf("%s: restoring an undecodable first entry: %v, want ErrUndecodable", name, err)
		}
	}
	// A good entry of a key that sorts before "k" (one shard holds all).
	good := bad
	for i := 0; good.Hash >= bad.Hash; i++ {
		k := fmt.Sprint("g", i)
		good.Hash, good.Key = f.hash(k), serde.String{}.Append(nil, k)
	}
	good.Value = serde.Int64{}.Append(nil, 7)
	if err := f.value.Restore(good); err != nil {
		t.Fatal(err)
	}
	if err := f.value.Restore(bad); err != nil {
		t.Fatalf("Restore decoded a later entry eagerly: %v", err)
	}
	func() {
		defer func() {
			r := recover()
			err, _ := r.(error)
			if err == nil || !strings.Contains(err.Error(), `state "value"`) {
				t.Fatalf("first touch: recovered %v, want an error naming the state", r)
			}
		}()
		f.b.SetCurrentKey("k")
		f.value.SetNamespace(0)
		f.value.Get()
		t.Fatal("the first touch of an undecodable shard did not fail")
	}()

	// Without Reserve everything lands in one shard: past the limit the
	// restore decodes, and a bad entry among them is an error of Restore.
	g := newFixture(t, 0)
	var err error
	for i := 0; err == nil && i < 20000; i++ {
		e := bad
		e.Hash = uint64(i) << 40
		err = g.value.Restore(e)
	}
	if err == nil || !strings.Contains(err.Error(), `state "value"`) {
		t.Fatalf("restoring past the raw limit: %v, want an error naming the state", err)
	}
	// A run that does not hold whole entries is refused.
	run := backend.AppendEncoded(nil, good)
	if err := newFixture(t, 0).value.RestoreRun(run[:len(run)-1], 1); !errors.Is(err, backend.ErrBadRun) {
		t.Fatalf("RestoreRun of a cut run: %v, want ErrBadRun", err)
	}
	// So is a run that holds another number of entries than announced.
	if err := newFixture(t, 0).value.RestoreRun(run, 2); !errors.Is(err, backend.ErrBadRun) {
		t.Fatalf("RestoreRun of 1 entry announced as 2: %v, want ErrBadRun", err)
	}
}

// ttlValue registers a value table with a 100 ms TTL in f, and returns it
// with an entry for key "k", namespace 0, value 7.
func ttlValue(t *testing.T, f *fixture) (*hashmap.Value[string, int64, int64], backend.Entry) {
	t.Helper()
	tv, err := hashmap.NewValue[string, int64, int64](f.b, "ttl", backend.KindValue, serde.Int64{}, serde.Int64{}, hashmap.TTL{Millis: 100})
	if err != nil {
		t.Fatal(err)
	}
	return tv, backend.Entry{Hash: f.hash("k"), Key: serde.String{}.Append(nil, "k"), Namespace: serde.Int64{}.Append(nil, 0), Value: serde.Int64{}.Append(nil, 7)}
}

// TestLazyRestoreTTL: a restored entry's fresh lifetime starts when it is
// restored, not when its shard is first touched.
func TestLazyRestoreTTL(t *testing.T) {
	f := newFixture(t, 0)
	tv, e := ttlValue(t, f)
	f.clock.now = 1000
	if err := tv.Restore(e); err != nil {
		t.Fatal(err)
	}
	f.clock.now = 1101 // first touch after the lifetime that began at the restore
	f.b.SetCurrentKey("k")
	tv.SetNamespace(0)
	if v, ok := tv.Get(); ok {
		t.Fatalf("Get = %d at 1101 for an entry restored at 1000 with a 100 ms TTL", v)
	}
}

// TestLazyRestoreTTLSnapshot: restored entries that expire before their
// shard is ever touched are left out of a snapshot, as decoded ones are.
func TestLazyRestoreTTLSnapshot(t *testing.T) {
	f := newFixture(t, 0)
	tv, e := ttlValue(t, f)
	f.clock.now = 1000
	if err := tv.Restore(e); err != nil {
		t.Fatal(err)
	}
	f.clock.now = 1099
	if got := collect(t, tv, keyspace.Full); len(got) != 1 {
		t.Fatalf("at 1099 the view holds %d entries, want the restored one", len(got))
	}
	f.clock.now = 1100
	if got := collect(t, tv, keyspace.Full); len(got) != 0 {
		t.Fatalf("at 1100 the view holds %d entries, want none: the restored entry expired", len(got))
	}
}

// TestLazyRestoreDuplicates: entries with the same hash, key and namespace
// (the format allows them; weir never writes them) merge as a decoded
// restore merges them — the last value wins, lists append — entry by entry
// or in runs, before and after a snapshot.
func TestLazyRestoreDuplicates(t *testing.T) {
	for _, runs := range []bool{false, true} {
		t.Run(fmt.Sprintf("runs=%v", runs), func(t *testing.T) {
			f := newFixture(t, 0)
			key := serde.String{}.Append(nil, "k")
			ns := serde.Int64{}.Append(nil, 0)
			h := f.hash("k")
			vals := []backend.Entry{
				{Hash: h, Key: key, Namespace: ns, Value: serde.Int64{}.Append(nil, 7)},
				{Hash: h, Key: key, Namespace: ns, Value: serde.Int64{}.Append(nil, 5)},
			}
			lists := []backend.Entry{
				{Hash: h, Key: key, Namespace: ns, Value: append([]byte{1}, serde.String{}.Append(nil, "b")...)},
				{Hash: h, Key: key, Namespace: ns, Value: append([]byte{1}, serde.String{}.Append(nil, "a")...)},
			}
			load := func(tb backend.Table, es []backend.Entry) {
				if !runs {
					for _, e := range es {
						if err := tb.Restore(e); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				var run []byte
				for _, e := range es {
					run = backend.AppendEncoded(run, e)
				}
				if err := tb.(backend.RunRestorer).RestoreRun(run, len(es)); err != nil {
					t.Fatal(err)
				}
			}
			load(f.value, vals)
			load(f.list, lists)
			if f.value.Len() != 1 || f.list.Len() != 1 {
				t.Fatalf("Len: value %d, list %d; want 1 each", f.value.Len(), f.list.Len())
			}
			if got := collect(t, f.value, keyspace.Full); len(got) != 1 || got[0].value != string(vals[1].Value) {
				t.Fatalf("value snapshot %v, want the last value alone", got)
			}
			f.b.SetCurrentKey("k")
			f.value.SetNamespace(0)
			f.list.SetNamespace(0)
			if v, ok := f.value.Get(); !ok || v != 5 {
				t.Fatalf("Get = %d, %v; want 5", v, ok)
			}
			if got := slices.Collect(f.list.All()); !slices.Equal(got, []string{"b", "a"}) {
				t.Fatalf("list %v, want [b a]", got)
			}
		})
	}
}

// TestLazyRestoreSweep: restored entries that expire before their shard is
// touched are reclaimed by the TTL sweeps, as decoded ones are.
func TestLazyRestoreSweep(t *testing.T) {
	f := newFixture(t, 0)
	tv, _ := ttlValue(t, f)
	src := newFixture(t, 3000)
	want := collect(t, src.value, keyspace.Full)
	tv.Reserve(len(want), keyspace.Full)
	f.clock.now = 1000
	for _, e := range want {
		if err := tv.Restore(backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)}); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.now = 2000 // every restored entry has expired
	tv.SetNamespace(0)
	for i := range 50_000 {
		f.b.SetCurrentKey(fmt.Sprint("other-", i%100))
		tv.Put(1)
	}
	if n := tv.Len(); n != 100 {
		t.Fatalf("Len %d after the sweeps, want the 100 live entries", n)
	}
}
