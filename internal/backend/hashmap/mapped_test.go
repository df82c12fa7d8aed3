package hashmap_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
)

// restoreMapped restores want into tb in runs of up to 200 entries, each in
// read-only memory of its own that is unmapped once the run's Keep is
// garbage (makeRun, mappedRuns).
func restoreMapped(t *testing.T, tb backend.RunRestorer, want []entry) {
	t.Helper()
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 200)
		es := make([]backend.Entry, n)
		for i, e := range rest[:n] {
			es[i] = backend.Entry{Hash: e.hash, Key: []byte(e.key), Namespace: []byte(e.ns), Value: []byte(e.value)}
		}
		if err := tb.RestoreRun(makeRun(es, mappedRuns)); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
}

// TestMappedRunsKept: a table whose serializers copy keeps mapped runs as
// they are, and holds their Keep, so that the memory stays mapped through
// garbage collections until the entries are decoded or dropped: reading a
// piece whose mapping is gone would crash the test.
func TestMappedRunsKept(t *testing.T) {
	src := newFixture(t, 6000)
	want := collect(t, src.value, keyspace.Full)
	dst := newFixture(t, 0)
	dst.value.Reserve(len(want), keyspace.Full)
	restoreMapped(t, dst.value, want)
	total, mapped := hashmap.RawBytes(dst.value)
	if total == 0 || mapped != total {
		t.Fatalf("%d bytes of raw entries, %d of them mapped; want all kept in their mappings", total, mapped)
	}
	runtime.GC()
	runtime.GC()
	if got := collect(t, dst.value, keyspace.Full); !slices.Equal(got, want) {
		t.Fatalf("after garbage collections the snapshot holds %d entries, want the %d restored", len(got), len(want))
	}
	runtime.GC()
	for i := range 6000 {
		dst.b.SetCurrentKey(fmt.Sprintf("key-%d", i))
		dst.value.SetNamespace(-1)
		if v, ok := dst.value.Get(); !ok || v != int64(i)*10-1 {
			t.Fatalf("key-%d: Get = %d, %v; want %d", i, v, ok, int64(i)*10-1)
		}
	}
	if total, _ := hashmap.RawBytes(dst.value); total != 0 {
		t.Fatalf("%d bytes still raw after every key was read", total)
	}
}

// aliasingBytes is a user's serializer whose Read returns a part of its
// input, as a serializer may.
type aliasingBytes struct{}

func (aliasingBytes) Append(dst, v []byte) []byte { return serde.Bytes{}.Append(dst, v) }
func (aliasingBytes) Read(src []byte) ([]byte, int, error) {
	n := int(src[0]) // test values are shorter than 128 bytes
	return src[1 : 1+n], 1 + n, nil
}

// TestMappedRunsCopiedForAliasingSerializers: a table with a user's
// serializer of a type that can point to memory copies mapped runs, so that
// values it decodes later point into memory the garbage collector keeps,
// not into a mapping that is gone.
func TestMappedRunsCopiedForAliasingSerializers(t *testing.T) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: 1000}
	b := hashmap.New[string](serde.String{}, hash, clk.Now)
	src, err := hashmap.NewValue[string, struct{}, []byte](b, "v", backend.KindValue, serde.Of[struct{}](), aliasingBytes{}, hashmap.TTL{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		b.SetCurrentKey(fmt.Sprint("key-", i))
		src.Put([]byte(fmt.Sprint("value-", i)))
	}
	want := collect(t, src, keyspace.Full)

	// Into empty shards, which keep raw entries; and into a shard that
	// holds a decoded entry already, which decodes each restored entry
	// at once.
	for _, decoded := range []bool{false, true} {
		b2 := hashmap.New[string](serde.String{}, hash, clk.Now)
		dst, err := hashmap.NewValue[string, struct{}, []byte](b2, "v", backend.KindValue, serde.Of[struct{}](), aliasingBytes{}, hashmap.TTL{})
		if err != nil {
			t.Fatal(err)
		}
		if decoded {
			b2.SetCurrentKey("other")
			dst.Put([]byte("x"))
		}
		restoreMapped(t, dst, want)
		if total, mapped := hashmap.RawBytes(dst); decoded != (total == 0) || mapped != 0 {
			t.Fatalf("decoded=%v: %d bytes of raw entries, %d of them mapped; want all copied", decoded, total, mapped)
		}
		vals := make([][]byte, 3000)
		for i := range vals {
			b2.SetCurrentKey(fmt.Sprint("key-", i))
			vals[i], _ = dst.Get()
		}
		runtime.GC() // unmaps every run: none was kept
		runtime.GC()
		for i, v := range vals {
			if string(v) != fmt.Sprint("value-", i) {
				t.Fatalf("decoded=%v: key-%d: %q, want %q", decoded, i, v, fmt.Sprint("value-", i))
			}
		}
	}
}

// aliasingString is a user's string serializer whose Read returns a string
// over its input, as a serializer may.
type aliasingString struct{}

func (aliasingString) Append(dst []byte, v string) []byte { return serde.String{}.Append(dst, v) }
func (aliasingString) Read(src []byte) (string, int, error) {
	n := int(src[0]) // test keys are shorter than 128 bytes
	return unsafe.String(&src[1], n), 1 + n, nil
}

// TestTimersRestoreCopiesForAliasingSerializers: timers restored with a
// key serializer that returns parts of its input keep keys that stay
// valid after the restored entry's memory is gone.
func TestTimersRestoreCopiesForAliasingSerializers(t *testing.T) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	b := hashmap.New[string](aliasingString{}, hash, func() int64 { return 0 })
	q := timer.NewQueue[string, int64]()
	tt, err := hashmap.NewTimers(b, "timers/event", q, serde.Int64{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		k := fmt.Sprint("key-", i)
		e := backend.Entry{Hash: hash(k), Key: aliasingString{}.Append(nil, k), Namespace: serde.Int64{}.Append(nil, 0),
			Value: binary.BigEndian.AppendUint64(nil, uint64(i))}
		run, keep := readOnly(backend.AppendEncoded(nil, e))
		re, _, err := backend.NextEncoded(run)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.Restore(re); err != nil {
			t.Fatal(err)
		}
		runtime.KeepAlive(keep)
	}
	runtime.GC() // unmaps every entry's memory
	runtime.GC()
	for i := range 500 {
		tm, ok := q.PopDue(1 << 62)
		if want := fmt.Sprint("key-", i); !ok || tm.Key != want || tm.TS != int64(i) {
			t.Fatalf("timer %d: %+v, %v; want key %q at %d", i, tm, ok, want, i)
		}
	}
}
