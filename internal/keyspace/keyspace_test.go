package keyspace

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestRangesPartitionTheSpace(t *testing.T) {
	for _, p := range []int{1, 2, 3, 4, 7, 128, 1000, 32768} {
		prev := Range{}
		for i := 0; i < p; i++ {
			r := RangeOf(i, p)
			if r.Lo > r.Hi {
				t.Fatalf("p=%d i=%d: empty range %v", p, i, r)
			}
			if i == 0 && r.Lo != 0 {
				t.Fatalf("p=%d: first range starts at %x", p, r.Lo)
			}
			if i > 0 && r.Lo != prev.Hi+1 {
				t.Fatalf("p=%d i=%d: gap or overlap between %v and %v", p, i, prev, r)
			}
			if Owner(r.Lo, p) != i || Owner(r.Hi, p) != i {
				t.Fatalf("p=%d i=%d: range %v ends not owned by i (%d, %d)", p, i, r, Owner(r.Lo, p), Owner(r.Hi, p))
			}
			if r.Lo > 0 && Owner(r.Lo-1, p) != i-1 {
				t.Fatalf("p=%d i=%d: hash before range owned by %d", p, i, Owner(r.Lo-1, p))
			}
			prev = r
		}
		if prev.Hi != ^uint64(0) {
			t.Fatalf("p=%d: last range ends at %x", p, prev.Hi)
		}
	}
}

func TestOwnerMatchesRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 100000; n++ {
		h := rng.Uint64()
		p := 1 + rng.IntN(300)
		if !RangeOf(Owner(h, p), p).Contains(h) {
			t.Fatalf("hash %x p=%d: owner %d range does not contain it", h, p, Owner(h, p))
		}
	}
}

func TestHashUint64MatchesHash(t *testing.T) {
	vs := []uint64{0, 1, 42, 1 << 63, ^uint64(0)}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		vs = append(vs, rng.Uint64())
	}
	for _, v := range vs {
		if got, want := HashUint64(v), Hash(binary.BigEndian.AppendUint64(nil, v)); got != want {
			t.Fatalf("HashUint64(%d) = %x, want %x", v, got, want)
		}
	}
}

func FuzzHashUint64(f *testing.F) {
	f.Add(uint64(0))
	f.Add(^uint64(0))
	f.Fuzz(func(t *testing.T, v uint64) {
		if got, want := HashUint64(v), Hash(binary.BigEndian.AppendUint64(nil, v)); got != want {
			t.Fatalf("HashUint64(%d) = %x, want %x", v, got, want)
		}
	})
}

// TestHashIsStable pins the hash function: it is part of the savepoint format.
func TestHashIsStable(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"weir", 0x25cb98be5b82688e},
	}
	for _, c := range cases {
		if got := Hash([]byte(c.in)); got != c.want {
			t.Fatalf("Hash(%q) = %x, want %x", c.in, got, c.want)
		}
	}
	if got := HashUint64(1000); got != 0x461cedc7253f4a7c {
		t.Fatalf("HashUint64 changed: %x", got)
	}
}

// BenchmarkOwner measures hashing an int64 key and finding its owner.
func BenchmarkOwner(b *testing.B) {
	var s int
	for i := 0; i < b.N; i++ {
		s += Owner(HashUint64(uint64(i)), 4)
	}
	benchSink = s
}

// benchSink keeps benchmark results, so that their loops are not removed.
var benchSink int
