package hashmap

import (
	"bytes"
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
		n := []int{0, 1, 47, 127, 128, 300, 16383, 16384}[r.IntN(8)]
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
	known := encodedBytes(t, tb)
	tb.known = false
	general := encodedBytes(t, tb)
	if !bytes.Equal(known, general) {
		t.Fatalf("known encoding (%d bytes) differs from the serializers' (%d bytes)", len(known), len(general))
	}
	if len(known) == 0 {
		t.Fatal("nothing encoded")
	}
}

// encodedBytes returns the entries of a capture of tb, encoded, in order,
// checking each with backend.NextEncoded.
func encodedBytes(t *testing.T, tb backend.Table) []byte {
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
	if n != tb.Len() {
		t.Fatalf("%d entries encoded of %d", n, tb.Len())
	}
	return all
}
