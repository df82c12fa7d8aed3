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

// restoreMode is how a test hands restored entries to a table.
type restoreMode int

const (
	byEntry      restoreMode = iota // Table.Restore, one entry at a time
	measuredRuns                    // RestoreRun without offsets
	indexedRuns                     // RestoreRun with offsets, Distinct where true
	indexedDups                     // RestoreRun with offsets, Distinct never set
	mappedRuns                      // indexedRuns in read-only memory, with Run.Keep
	mixedRuns                       // runs of an even length as mappedRuns, others as measuredRuns
)

var restoreModes = []restoreMode{byEntry, measuredRuns, indexedRuns, indexedDups, mappedRuns, mixedRuns}

func (m restoreMode) String() string {
	return [...]string{"entries", "runs", "indexed", "indexed-dups", "mapped", "mixed"}[m]
}

// makeRun encodes es as a run for mode m (not byEntry). A mapped run lies
// in read-only memory that is unmapped once its Keep is garbage: a table
// that writes to it, or reads it after dropping Keep, crashes the test.
func makeRun(es []backend.Entry, m restoreMode) backend.Run {
	if m == mixedRuns {
		m = measuredRuns
		if len(es)%2 == 0 {
			m = mappedRuns
		}
	}
	if m == mappedRuns {
		run := makeRun(es, indexedRuns)
		run.Bytes, run.Keep = readOnly(run.Bytes)
		return run
	}
	run := backend.Run{N: len(es)}
	if m != measuredRuns {
		run.Offsets = make([]uint32, 0, len(es))
		run.Distinct = m == indexedRuns
	}
	for i, e := range es {
		if run.Offsets != nil {
			run.Offsets = append(run.Offsets, uint32(len(run.Bytes)))
		}
		if i > 0 && e.Hash == es[i-1].Hash {
			run.Distinct = false
		}
		run.Bytes = backend.AppendEncoded(run.Bytes, e)
	}
	return run
}

// restoreAll restores every table of src into the same table of dst, with
// or without reserving first, entry by entry or in runs of 1 to 300
// entries.
func restoreAll(t *testing.T, src, dst *fixture, reserve bool, mode restoreMode) [][]entry {
	t.Helper()
	var wants [][]entry
	for _, pair := range [][2]backend.Table{{src.value, dst.value}, {src.list, dst.list}, {src.m, dst.m}} {
		want := collect(t, pair[0], keyspace.Full)
		if reserve {
			pair[1].(backend.Reserver).Reserve(len(want), keyspace.Full)
		}
		var run []backend.Entry
		for i, e := range want {
			be := backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)}
			if mode == byEntry {
				if err := pair[1].Restore(be); err != nil {
					t.Fatal(err)
				}
				continue
			}
			run = append(run, be)
			if len(run) == 1+i*7919%300 || i == len(want)-1 {
				if err := pair[1].(backend.RunRestorer).RestoreRun(makeRun(run, mode)); err != nil {
					t.Fatal(err)
				}
				run = run[:0]
			}
		}
		wants = append(wants, want)
	}
	return wants
}

// modeCase is a combination of reserving and a restore mode.
type modeCase struct {
	name    string
	reserve bool
	mode    restoreMode
}

// modeCases are all the combinations.
func modeCases() []modeCase {
	var cs []modeCase
	for _, reserve := range []bool{true, false} {
		for _, m := range restoreModes {
			cs = append(cs, modeCase{fmt.Sprintf("reserve=%v/%v", reserve, m), reserve, m})
		}
	}
	return cs
}

// TestLazyRestore: restored entries are decoded when their shard is first
// touched. Before and after any touch, the tables count, read, snapshot and
// modify exactly as if everything had been decoded at once; a view taken
// before the task touches a shard shows the restored entries even when the
// task decodes and changes that shard while the view is read.
func TestLazyRestore(t *testing.T) {
	for _, c := range modeCases() {
		t.Run(c.name, func(t *testing.T) {
			src := newFixture(t, 6000)
			dst := newFixture(t, 0)
			wants := restoreAll(t, src, dst, c.reserve, c.mode)
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
			if !c.reserve {
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
		"run": func() error {
			return newFixture(t, 0).value.RestoreRun(backend.Run{Bytes: backend.AppendEncoded(nil, bad), N: 1})
		},
	} {
		if err := restore(); !errors.Is(err, hashmap.ErrUndecodable) {
			t.Fatalf("%s: restoring an undecodable first entry: %v, want ErrUndecodable", name, err)
		}
	}
	// Lists and maps are checked the same way (by decoding into a scratch
	// map): a value that is not a list of strings, or a map of strings to
	// int64s.
	for name, restore := range map[string]func() error{
		"list run": func() error {
			return newFixture(t, 0).list.RestoreRun(backend.Run{Bytes: backend.AppendEncoded(nil, bad), N: 1})
		},
		"map run": func() error {
			return newFixture(t, 0).m.RestoreRun(backend.Run{Bytes: backend.AppendEncoded(nil, bad), N: 1})
		},
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
	if err := newFixture(t, 0).value.RestoreRun(backend.Run{Bytes: run[:len(run)-1], N: 1}); !errors.Is(err, backend.ErrBadRun) {
		t.Fatalf("RestoreRun of a cut run: %v, want ErrBadRun", err)
	}
	// So is a run that holds another number of entries than announced.
	if err := newFixture(t, 0).value.RestoreRun(backend.Run{Bytes: run, N: 2}); !errors.Is(err, backend.ErrBadRun) {
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
	for _, mode := range restoreModes {
		t.Run(mode.String(), func(t *testing.T) {
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
				if mode == byEntry {
					for _, e := range es {
						if err := tb.Restore(e); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				if err := tb.(backend.RunRestorer).RestoreRun(makeRun(es, mode)); err != nil {
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

// TestRestoreRunsPastRawLimit: runs longer than a shard may hold raw
// (rawLimit) restore the same table in every mode, into a table that
// splits its shards as it goes (no Reserve).
func TestRestoreRunsPastRawLimit(t *testing.T) {
	src := newFixture(t, 10_000)
	want := collect(t, src.value, keyspace.Full)
	for _, mode := range restoreModes[1:] {
		t.Run(mode.String(), func(t *testing.T) {
			dst := newFixture(t, 0)
			for rest := want; len(rest) > 0; {
				n := min(len(rest), 7000)
				es := make([]backend.Entry, n)
				for i, e := range rest[:n] {
					es[i] = backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)}
				}
				if err := dst.value.RestoreRun(makeRun(es, mode)); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if dst.value.Len() != len(want) {
				t.Fatalf("Len %d, want %d", dst.value.Len(), len(want))
			}
			if got := collect(t, dst.value, keyspace.Full); !slices.Equal(got, want) {
				t.Fatalf("%d entries differ from the %d restored", len(got), len(want))
			}
			if n := hashmap.Shards(dst.value); n < 4 {
				t.Errorf("the table stayed in %d shards", n)
			}
		})
	}
}

// TestIndexedRunBadOffsets: offsets whose order or bounds cannot be a
// run's, or that leave bytes after the last entry, are refused with
// ErrBadRun, not followed. (Whether each offset starts an entry is not
// checked: offsets come from a reader that checked every entry.)
func TestIndexedRunBadOffsets(t *testing.T) {
	f := newFixture(t, 0)
	h := f.hash("k")
	es := []backend.Entry{
		{Hash: h, Key: serde.String{}.Append(nil, "k"), Namespace: serde.Int64{}.Append(nil, 0), Value: serde.Int64{}.Append(nil, 1)},
		{Hash: h, Key: serde.String{}.Append(nil, "k"), Namespace: serde.Int64{}.Append(nil, 1), Value: serde.Int64{}.Append(nil, 2)},
	}
	good := makeRun(es, indexedRuns)
	for name, offs := range map[string][]uint32{
		"too few":          good.Offsets[:1],
		"not from 0":       {1, good.Offsets[1]},
		"past the end":     {0, uint32(len(good.Bytes))},
		"far past the end": {0, 1 << 30},
		"backwards":        {0, 0},
		"in a short run":   {0, 1 << 20},
	} {
		run := good
		run.Offsets = offs
		if name == "in a short run" {
			run.Bytes = run.Bytes[:16]
		}
		if err := newFixture(t, 0).value.RestoreRun(run); !errors.Is(err, backend.ErrBadRun) {
			t.Errorf("%s: RestoreRun = %v, want ErrBadRun", name, err)
		}
	}
	trailing := good
	trailing.Bytes = append(slices.Clip(good.Bytes), 0)
	if err := newFixture(t, 0).value.RestoreRun(trailing); !errors.Is(err, backend.ErrBadRun) {
		t.Errorf("trailing byte: RestoreRun = %v, want ErrBadRun", err)
	}
	if err := f.value.RestoreRun(good); err != nil {
		t.Fatal(err)
	}
	if f.value.Len() != 2 {
		t.Fatalf("Len %d, want 2", f.value.Len())
	}
}
