package hashmap_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
)

// readAll reads a view into entries (copied), as a writer goroutine would.
func readAll(v backend.View, name string) ([]entry, error) {
	var out []entry
	err := v.Entries(func(e backend.Entry) error {
		out = append(out, entry{e.Hash, string(e.Key), string(e.Namespace), string(e.Value), name})
		return nil
	})
	return out, err
}

// mutate changes every table of f a lot: overwrites, deletes, new keys (so
// that shards split) and new namespaces.
func mutate(f *fixture, round int) {
	for i := range 3 * f.n {
		k := fmt.Sprintf("key-%d", i)
		f.b.SetCurrentKey(k)
		ns := int64(i % 5)
		f.value.SetNamespace(ns)
		f.list.SetNamespace(ns)
		f.m.SetNamespace(ns)
		switch (i + round) % 4 {
		case 0:
			f.value.Clear()
			f.list.Clear()
			f.m.Clear()
		case 1:
			p, _ := f.value.Slot()
			*p += 1000
			f.list.Update([]string{"replaced", k})
			f.m.Remove("a")
		default:
			f.value.Put(int64(-i - round))
			f.list.Add(fmt.Sprint(round))
			f.m.Put(fmt.Sprint("r", round), int64(i))
		}
	}
}

// TestCaptureIsolatedFromLaterWrites checks that a view shows the tables as
// they were at the capture, whatever the task does afterwards, while the
// view is read concurrently (run with -race).
func TestCaptureIsolatedFromLaterWrites(t *testing.T) {
	f := newFixture(t, 20000)
	tables := []backend.Table{f.value, f.list, f.m}
	var want [][]entry
	for _, tb := range tables {
		want = append(want, collect(t, tb, keyspace.Full))
	}
	if n := hashmap.Shards(f.value); n < 4 {
		t.Fatalf("%d entries in %d shards: the table never split", f.value.Len(), n)
	}
	views := make([]backend.View, len(tables))
	for i, tb := range tables {
		views[i] = tb.Capture()
	}
	got := make([][]entry, len(tables))
	errs := make([]error, len(tables))
	var wg sync.WaitGroup
	for i := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer views[i].Release()
			got[i], errs[i] = readAll(views[i], tables[i].Name())
		}()
	}
	mutate(f, 1) // concurrently with the readers
	wg.Wait()
	for i := range tables {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: the view differs from the table at capture time (%d entries, want %d)", tables[i].Name(), len(got[i]), len(want[i]))
		}
	}
	// The live tables moved on.
	if after := collect(t, f.value, keyspace.Full); slices.Equal(after, want[0]) {
		t.Error("the value table did not change")
	}
}

// TestOverlappingCaptures takes a second capture before the first is read.
func TestOverlappingCaptures(t *testing.T) {
	f := newFixture(t, 5000)
	want1 := collect(t, f.m, keyspace.Full)
	v1 := f.m.Capture()
	mutate(f, 1)
	want2 := collect(t, f.m, keyspace.Full)
	v2 := f.m.Capture()
	mutate(f, 2)
	got2, err := readAll(v2, "map")
	if err != nil {
		t.Fatal(err)
	}
	got1, err := readAll(v1, "map")
	if err != nil {
		t.Fatal(err)
	}
	v1.Release()
	v2.Release()
	if !slices.Equal(got1, want1) || !slices.Equal(got2, want2) {
		t.Errorf("overlapping captures: first matches %v, second matches %v", slices.Equal(got1, want1), slices.Equal(got2, want2))
	}
	if slices.Equal(want1, want2) {
		t.Fatal("mutate changed nothing")
	}
}

// TestViewReadOnceAndRelease checks a view's lifecycle errors.
func TestViewReadOnceAndRelease(t *testing.T) {
	f := newFixture(t, 100)
	v := f.value.Capture()
	if _, err := readAll(v, "value"); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(v, "value"); err == nil {
		t.Error("a view read twice did not fail")
	}
	v.Release()
	v.Release() // twice is fine

	v = f.value.Capture()
	v.Release()
	mutate(f, 1) // a released view costs the writes nothing and sees nothing
	if _, err := readAll(v, "value"); err == nil {
		t.Error("a released view could be read")
	}
}

// TestTimersCapture checks that timers registered after a capture are not in
// it, and that a queue backed by the table still pops in order.
func TestTimersCapture(t *testing.T) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	b := hashmap.New[string](serde.String{}, hash, func() int64 { return 0 })
	q := timer.NewQueue[string, int64]()
	tt, err := hashmap.NewTimers(b, "timers/event", q, serde.Int64{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	for i := range n {
		q.Add(timer.Timer[string, int64]{TS: int64(n - i), Key: fmt.Sprint("k", i%97), NS: int64(i)})
	}
	v := tt.Capture()
	for i := range n / 2 {
		if _, ok := q.PopDue(int64(n)); !ok {
			t.Fatalf("pop %d: nothing due", i)
		}
	}
	q.Add(timer.Timer[string, int64]{TS: 1, Key: "late", NS: 0})
	got, err := readAll(v, "timers")
	v.Release()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("captured %d timers, want %d", len(got), n)
	}
	if tt.Len() != n/2+1 || q.Len() != n/2+1 {
		t.Fatalf("table holds %d timers, queue %d, want %d", tt.Len(), q.Len(), n/2+1)
	}
	last := int64(0)
	for {
		tm, ok := q.PopDue(1 << 62)
		if !ok {
			break
		}
		if tm.TS < last {
			t.Fatalf("timer %d popped after %d", tm.TS, last)
		}
		last = tm.TS
	}
}

// TestReserveThenRestore restores a range into a table sized beforehand and
// checks it reads back the same.
func TestReserveThenRestore(t *testing.T) {
	f := newFixture(t, 30000)
	r := keyspace.RangeOf(1, 3)
	want := collect(t, f.value, r)
	g := newFixture(t, 0)
	g.value.Reserve(len(want), r)
	for _, e := range want {
		err := g.value.Restore(backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(t, g.value, keyspace.Full); !slices.Equal(got, want) {
		t.Fatalf("restored %d entries, read back %d differing", len(want), len(got))
	}
	if n := hashmap.Shards(g.value); n < 4 {
		t.Errorf("reserved table has %d shards", n)
	}
}

// readEncoded reads a view through EncodedEntries, decoding each span into
// an entry; it returns the entries and the number of batches.
func readEncoded(v backend.View, name string) ([]entry, int, error) {
	var out []entry
	batches := 0
	err := v.(backend.EncodedView).EncodedEntries(func(buf []byte, spans []backend.Span) error {
		batches++
		for _, sp := range spans {
			if sp.Off < 0 || sp.Len <= 0 || sp.Off+sp.Len > len(buf) {
				return fmt.Errorf("span %+v outside a buffer of %d bytes", sp, len(buf))
			}
			e, rest, err := backend.NextEncoded(buf[sp.Off : sp.Off+sp.Len])
			if err != nil {
				return err
			}
			if len(rest) != 0 {
				return fmt.Errorf("span %+v holds %d bytes after its entry", sp, len(rest))
			}
			if canon := backend.AppendEncoded(nil, e); !bytes.Equal(canon, buf[sp.Off:sp.Off+sp.Len]) {
				return fmt.Errorf("span %+v is not in canonical encoding", sp)
			}
			out = append(out, entry{e.Hash, string(e.Key), string(e.Namespace), string(e.Value), name})
		}
		return nil
	})
	return out, batches, err
}

// TestCaptureEncoded: a view read already encoded holds the entries Entries
// yields, in the same order and canonical encoding, one batch per shard: for
// shards the writer encodes, shards the task settled before writing to them,
// and restored shards copied raw.
func TestCaptureEncoded(t *testing.T) {
	f := newFixture(t, 20000)
	g := newFixture(t, 0) // restored from f's runs
	for i, pair := range [][2]backend.Table{{f.value, g.value}, {f.list, g.list}, {f.m, g.m}} {
		tb, restored := pair[0], pair[1]
		want := collect(t, tb, keyspace.Full)
		v := tb.Capture()
		mutate(f, i) // settles shards for v before changing them
		got, batches, err := readEncoded(v, tb.Name())
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the batches hold %d entries, differing from the %d of Entries at the capture", tb.Name(), len(got), len(want))
		}
		if batches < 4 {
			t.Fatalf("%s: %d batches: not one per shard", tb.Name(), batches)
		}

		now := collect(t, tb, keyspace.Full)
		v = tb.Capture()
		err = v.(backend.EncodedView).EncodedEntries(func(buf []byte, spans []backend.Span) error {
			var run []byte
			for _, sp := range spans {
				run = append(run, buf[sp.Off:sp.Off+sp.Len]...)
			}
			return restored.(backend.RunRestorer).RestoreRun(backend.Run{Bytes: run, N: len(spans)})
		})
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		v = restored.Capture() // the raw entries, not decoded yet
		got, _, err = readEncoded(v, tb.Name())
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, now) {
			t.Fatalf("%s restored: the batches hold %d entries, want %d", tb.Name(), len(got), len(now))
		}
	}
}
