package hashmap_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

func newSliceValue(t *testing.T) (*hashmap.Backend[string], *hashmap.Value[string, struct{}, []int64]) {
	t.Helper()
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	b := hashmap.New[string](serde.String{}, hash, func() int64 { return 0 })
	v, err := hashmap.NewValue[string, struct{}, []int64](b, "v", backend.KindValue, serde.Of[struct{}](), serde.Of[[]int64](), hashmap.TTL{})
	if err != nil {
		t.Fatal(err)
	}
	return b, v
}

// TestGetMutatePutStaysOutOfView: the usual read-modify-write of a
// reference-typed value (Get, change in place, Put) must not show in a view
// taken before it: Get settles the shard when values can alias, before the
// caller can change them. (state.Aggregating.Add and state.Reducing.Add do
// exactly this with the user's Add/Reduce.)
func TestGetMutatePutStaysOutOfView(t *testing.T) {
	b, v := newSliceValue(t)
	b.SetCurrentKey("k")
	v.Put([]int64{1})
	view := v.Capture() // the barrier
	got, _ := v.Get()
	got[0] = 2 // after the barrier
	v.Put(got)
	var enc []byte
	if err := view.Entries(func(e backend.Entry) error { enc = append([]byte(nil), e.Value...); return nil }); err != nil {
		t.Fatal(err)
	}
	view.Release()
	want := serde.Of[[]int64]().Append(nil, []int64{1})
	if string(enc) != string(want) {
		t.Errorf("view holds %x, want the value at the barrier %x: a change made after the barrier is in the snapshot", enc, want)
	}
}

// TestGetMutateDoesNotRaceWriter: the same pattern while the writer encodes
// the view must not race with it (with a map value a race would be a fatal
// "concurrent map iteration and map write"). Run with -race.
func TestGetMutateDoesNotRaceWriter(t *testing.T) {
	b, v := newSliceValue(t)
	for i := range 20000 {
		b.SetCurrentKey(fmt.Sprint("k", i))
		v.Put([]int64{int64(i)})
	}
	view := v.Capture()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer view.Release()
		_ = view.Entries(func(backend.Entry) error { return nil })
	}()
	for i := range 20000 {
		b.SetCurrentKey(fmt.Sprint("k", i))
		x, _ := v.Get()
		x[0]++
		v.Put(x)
	}
	wg.Wait()
}

// TestReleaseDuringEntriesFails: a view released while it is being read (a
// concurrent abort) must fail the read, never end it early without error.
func TestReleaseDuringEntriesFails(t *testing.T) {
	f := newFixture(t, 20000)
	if hashmap.Shards(f.value) < 4 {
		t.Fatal("no split")
	}
	want := f.value.Len()
	view := f.value.Capture()
	mutate(f, 1) // the task settles every shard it touches
	n := 0
	err := view.Entries(func(backend.Entry) error {
		if n++; n == 1 {
			view.Release() // e.g. an abort racing with the writer
		}
		return nil
	})
	if err == nil && n < want {
		t.Errorf("Entries returned nil after %d of %d entries: a release during the read truncates silently", n, want)
	}
}

// panicky is an int64 serializer that panics while armed.
type panicky struct{ armed *bool }

func (p panicky) Append(dst []byte, v int64) []byte {
	if *p.armed {
		panic("serializer bug")
	}
	return serde.Int64{}.Append(dst, v)
}
func (p panicky) Read(src []byte) (int64, int, error) { return serde.Int64{}.Read(src) }

// TestPanicInSettleUnlocksShard: a serializer that panics while the task
// settles a shard (the task recovers panics and fails the job) must not
// leave the shard's mutex locked, or the snapshot writer would block forever
// in Entries and JobClient.Wait with it.
func TestPanicInSettleUnlocksShard(t *testing.T) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	armed := new(bool)
	b := hashmap.New[string](serde.String{}, hash, func() int64 { return 0 })
	v, err := hashmap.NewValue[string, struct{}, int64](b, "v", backend.KindValue, serde.Of[struct{}](), panicky{armed}, hashmap.TTL{})
	if err != nil {
		t.Fatal(err)
	}
	b.SetCurrentKey("k")
	v.Put(1)
	view := v.Capture()
	*armed = true
	func() {
		defer func() { _ = recover() }() // the task's panic handler
		v.Put(2)                         // settles: encodes, panics
	}()
	*armed = false
	done := make(chan error, 1)
	go func() { done <- view.Entries(func(backend.Entry) error { return nil }) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Entries blocked: the shard's mutex was left locked by the panic in settle")
	}
}

// TestNoNamespaceEncoding: a table without namespaces (struct{}) skips
// encoding them, and its encoded entries are still the canonical encoding
// of what Entries yields, with an empty namespace.
func TestNoNamespaceEncoding(t *testing.T) {
	b, v := newSliceValue(t)
	for i := range 3000 {
		b.SetCurrentKey(fmt.Sprint("k", i))
		v.Put([]int64{int64(i), -1})
	}
	want := collect(t, v, keyspace.Full)
	c := v.Capture()
	defer c.Release()
	n := 0
	err := c.(backend.EncodedView).EncodedEntries(func(buf []byte, spans []backend.Span) error {
		for _, sp := range spans {
			e, rest, err := backend.NextEncoded(buf[sp.Off : sp.Off+sp.Len])
			if err != nil || len(rest) != 0 {
				return fmt.Errorf("span %d: %v, %d bytes left", n, err, len(rest))
			}
			w := want[n]
			if len(e.Namespace) != 0 || e.Hash != w.hash || string(e.Key) != w.key || string(e.Value) != w.value {
				return fmt.Errorf("entry %d: %x, want %+v", n, buf[sp.Off:sp.Off+sp.Len], w)
			}
			if got := backend.AppendEncoded(nil, e); string(got) != string(buf[sp.Off:sp.Off+sp.Len]) {
				return fmt.Errorf("entry %d: %x is not canonical (%x)", n, buf[sp.Off:sp.Off+sp.Len], got)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d encoded entries, want %d", n, len(want))
	}
}
