package hashmap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// TestKnownEncoding checks that entries written in one go (appendKnown)
// are byte for byte those the serializers write, for every key and value
// kind it handles, with lengths around the uvarint boundaries; and that
// other serializers and namespaced tables do not take that path.
func TestKnownEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		// Around the sizes where a length prefix, of the span or of the
		// part holding it, takes another byte.
		n := []int{0, 1, 47, 126, 127, 128, 300, 16381, 16382, 16383, 16384}[r.IntN(11)]
		return strings.Repeat(string(rune('a'+r.IntN(26))), n)
	}
	t.Run("int64/bytes", func(t *testing.T) {
		checkKnown(t, serde.Int64{}, serde.Bytes{}, func(i int) (int64, []byte) { return int64(r.Uint64()), []byte(str()) })
	})
	t.Run("int/string", func(t *testing.T) {
		checkKnown(t, serde.Int{}, serde.String{}, func(i int) (int, string) { return i - 500, str() })
	})
	t.Run("string/int64", func(t *testing.T) {
		checkKnown(t, serde.String{}, serde.Int64{}, func(i int) (string, int64) { return str() + string(rune(i)), -int64(i) })
	})
	t.Run("string/bytes", func(t *testing.T) {
		checkKnown(t, serde.String{}, serde.Bytes{}, func(i int) (string, []byte) {
			v := []byte(str())
			if i%7 == 0 {
				v = nil // encodes as empty
			}
			return str() + string(rune(i)), v
		})
	})

	t.Run("one hash", func(t *testing.T) {
		// Every key hashes alike: the entries are then in key order.
		be := New[int64](serde.Int64{}, func(int64) uint64 { return 42 }, func() int64 { return 0 })
		tb, err := NewValue[int64, struct{}, []byte](be, "t", backend.KindValue, serde.Of[struct{}](), serde.Bytes{}, TTL{})
		if err != nil || !tb.known {
			t.Fatal("no table encoding as known", err)
		}
		for _, k := range r.Perm(1000) {
			be.SetCurrentKey(int64(k))
			tb.Put([]byte(str()))
		}
		b, _ := encodedBytes(t, tb)
		for i := range int64(1000) { // big-endian: byte order is number order
			e, rest, err := backend.NextEncoded(b)
			if err != nil || e.Hash != 42 || !bytes.Equal(e.Key, serde.Int64{}.Append(nil, i)) {
				t.Fatalf("entry %d: hash %d key %x (%v), want key %d", i, e.Hash, e.Key, err, i)
			}
			b = rest
		}
	})
	t.Run("expired", func(t *testing.T) {
		now := int64(0)
		be := New[int64](serde.Int64{}, func(k int64) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 }, func() int64 { return now })
		tb, err := NewValue[int64, struct{}, string](be, "t", backend.KindValue, serde.Of[struct{}](), serde.String{}, TTL{Millis: 100})
		if err != nil || !tb.known {
			t.Fatal("no table encoding as known", err)
		}
		for k := range int64(2000) {
			now = k / 1000 * 1000 // the first thousand expire at 100, the rest at 1100
			be.SetCurrentKey(k)
			tb.Put("v")
		}
		now = 1050
		b, n := encodedBytes(t, tb)
		if n != 1000 {
			t.Fatalf("%d live entries encoded, want 1000", n)
		}
		for i := 0; len(b) > 0; i++ {
			e, rest, err := backend.NextEncoded(b)
			if err != nil || int64(binary.BigEndian.Uint64(e.Key)) < 1000 {
				t.Fatalf("entry %d: key %x (%v): expired, or undecodable", i, e.Key, err)
			}
			b = rest
		}
	})

	be := New[int64](serde.Int64{}, func(k int64) uint64 { return uint64(k) }, func() int64 { return 0 })
	other, err := NewValue[int64, struct{}, []byte](be, "other", backend.KindValue, serde.Of[struct{}](), embedded{}, TTL{})
	if err != nil {
		t.Fatal(err)
	}
	namespaced, err := NewValue[int64, int64, []byte](be, "namespaced", backend.KindValue, serde.Int64{}, serde.Bytes{}, TTL{})
	if err != nil {
		t.Fatal(err)
	}
	if other.known || namespaced.known {
		t.Fatal("a serializer that only embeds a built-in one, or a namespaced table, encodes as known")
	}
}

// TestEncodeAppends checks that a value table's encode, which sorts as it
// encodes, leaves an encoded that already held entries to be sorted in
// full.
func TestEncodeAppends(t *testing.T) {
	be := New[int64](serde.Int64{}, func(k int64) uint64 { return uint64(k) << 40 }, func() int64 { return 0 })
	tb, err := NewValue[int64, struct{}, []byte](be, "t", backend.KindValue, serde.Of[struct{}](), serde.Bytes{}, TTL{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(100) {
		be.SetCurrentKey(k)
		tb.Put([]byte{byte(k)})
	}
	var out encoded
	out.add(backend.Entry{Hash: 50<<40 + 1, Key: []byte("x")}) // between keys 50 and 51
	tb.encode(&out, tb.st.dir[0].m, 0)
	if out.sorted {
		t.Fatal("an encode after another entry claims the entries sorted")
	}
	out.sort()
	for i, x := range out.ents {
		if i > 0 && out.compare(out.ents[i-1], x) > 0 {
			t.Fatalf("entries %d and %d out of order after sort", i-1, i)
		}
	}
	if len(out.ents) != 101 || out.ents[51].hash != 50<<40+1 {
		t.Fatalf("%d entries, the added one at hash %#x", len(out.ents), out.ents[51].hash)
	}
}

// embedded is a user serializer built on serde.Bytes.
type embedded struct{ serde.Bytes }

// checkKnown fills a table through key and value serializers ks and vs and
// compares its encoded entries with those of the same table encoded
// through the serializers.
func checkKnown[K comparable, V any](t *testing.T, ks serde.Serializer[K], vs serde.Serializer[V], gen func(i int) (K, V)) {
	t.Helper()
	hash, err := keyspace.HasherFor[K]()
	if err != nil {
		t.Fatal(err)
	}
	be := New[K](ks, hash, func() int64 { return 0 })
	tb, err := NewValue[K, struct{}, V](be, "t", backend.KindValue, serde.Of[struct{}](), vs, TTL{})
	if err != nil {
		t.Fatal(err)
	}
	if !tb.known {
		t.Fatal("the table does not encode as known")
	}
	for i := range 3000 {
		k, v := gen(i)
		be.SetCurrentKey(k)
		tb.Put(v)
	}
	known, n := encodedBytes(t, tb)
	if n != tb.Len() {
		t.Fatalf("%d entries encoded of %d", n, tb.Len())
	}
	tb.known = false
	general, _ := encodedBytes(t, tb)
	if !bytes.Equal(known, general) {
		t.Fatalf("known encoding (%d bytes) differs from the serializers' (%d bytes)", len(known), len(general))
	}
	if len(known) == 0 {
		t.Fatal("nothing encoded")
	}
}

// encodedBytes returns the entries of a capture of tb, encoded, in order,
// and their number, checking each with backend.NextEncoded.
func encodedBytes(t *testing.T, tb backend.Table) ([]byte, int) {
	t.Helper()
	v := tb.Capture()
	defer v.Release()
	var all []byte
	n := 0
	err := v.(backend.EncodedView).EncodedEntries(func(buf []byte, spans []backend.Span) error {
		for _, sp := range spans {
			p := buf[sp.Off : sp.Off+sp.Len]
			if _, rest, err := backend.NextEncoded(p); err != nil || len(rest) != 0 {
				t.Fatalf("entry %d: %d of %d bytes left over: %v", n, len(rest), len(p), err)
			}
			all = append(all, p...)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, n
}
