package keyspace

import (
	"testing"

	"github.com/weirstream/weir/serde"
)

type userID string
type auctionID int64
type pair struct {
	A int32
	B string
}

func checkHasher[K comparable](t *testing.T, keys ...K) {
	t.Helper()
	h, err := HasherFor[K]()
	if err != nil {
		t.Fatal(err)
	}
	s := serde.Of[K]()
	for _, k := range keys {
		if got, want := h(k), Hash(s.Append(nil, k)); got != want {
			t.Fatalf("hash(%v) = %x, want Hash(serde encoding) = %x", k, got, want)
		}
	}
}

func TestHasherMatchesCanonicalEncoding(t *testing.T) {
	checkHasher(t, int64(0), int64(-1), int64(1000))
	checkHasher(t, 0, 5, -7)
	checkHasher(t, uint64(99))
	checkHasher(t, "", "joha", "a longer key with spaces")
	checkHasher(t, userID("nina"))
	checkHasher(t, auctionID(1000))
	checkHasher(t, int32(-5))
	checkHasher(t, int16(3))
	checkHasher(t, pair{1, "x"}, pair{})
	checkHasher(t, true, false)
}

func TestHasherAllocs(t *testing.T) {
	hi, _ := HasherFor[int64]()
	hs, _ := HasherFor[string]()
	key := "some user"
	if n := testing.AllocsPerRun(100, func() { _ = hi(12345); _ = hs(key) }); n != 0 {
		t.Fatalf("hashing allocates %v times", n)
	}
}

func BenchmarkHashString(b *testing.B) {
	h, _ := HasherFor[string]()
	for i := 0; i < b.N; i++ {
		_ = h("user-12345")
	}
}
