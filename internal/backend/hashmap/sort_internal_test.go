package hashmap

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// TestEncodedSort checks the bucket sort against a comparison sort on
// hashes spread evenly, clustered in a narrow range, all equal, and mixed
// with runs of equal hashes whose keys, namespaces and values decide.
func TestEncodedSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i int) uint64{
		"spread":    func(int) uint64 { return r.Uint64() },
		"prefixed":  func(int) uint64 { return 0xabc<<52 | r.Uint64()>>12 },
		"narrow":    func(int) uint64 { return 1<<40 + r.Uint64N(64) },
		"one hash":  func(int) uint64 { return 42 },
		"runs":      func(i int) uint64 { return uint64(i/7) * 0x9e3779b97f4a7c15 },
		"two":       func(i int) uint64 { return uint64(i % 2) },
		"top bit":   func(i int) uint64 { return uint64(i%2) << 63 },
		"low bits":  func(int) uint64 { return r.Uint64N(3) },
		"high skew": func(int) uint64 { return r.Uint64() >> r.UintN(64) },
	}
	for name, hash := range shapes {
		for _, n := range []int{0, 1, 2, 3, 17, 1000, 5000} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				var e encoded
				for i := range n {
					e.begin(hash(i))
					e.arena = fmt.Appendf(e.arena, "k%d", r.IntN(5))
					e.markKey()
					e.arena = fmt.Appendf(e.arena, "n%d", r.IntN(3))
					e.markNS()
					e.arena = fmt.Appendf(e.arena, "v%d", r.IntN(4))
					e.markValue()
				}
				want := slices.Clone(e.ents)
				slices.SortStableFunc(want, e.compare)
				// Sort twice: the second run reuses the scratch.
				for range 2 {
					e.ents, e.sorted = slices.Clone(want), false
					r.Shuffle(len(e.ents), func(i, j int) { e.ents[i], e.ents[j] = e.ents[j], e.ents[i] })
					e.sort()
					if len(e.ents) != len(want) {
						t.Fatalf("sorted %d entries, want %d", len(e.ents), len(want))
					}
					for i := range want {
						// Entries that compare equal may swap; their bytes may not differ.
						a, b := e.entry(e.ents[i]), e.entry(want[i])
						if a.Hash != b.Hash || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Namespace, b.Namespace) || !bytes.Equal(a.Value, b.Value) {
							t.Fatalf("entry %d: got %x %q %q %q, want %x %q %q %q", i, a.Hash, a.Key, a.Namespace, a.Value, b.Hash, b.Key, b.Namespace, b.Value)
						}
					}
				}
			})
		}
	}
}

// BenchmarkEncodedSort measures sorting a shard's index of 4,000 entries
// with evenly spread hashes, the shape of a large table's shard, per entry.
func BenchmarkEncodedSort(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var e encoded
	for range 4000 {
		e.begin(r.Uint64())
		e.arena = append(e.arena, "key"...)
		e.markKey()
		e.markNS()
		e.arena = append(e.arena, "value"...)
		e.markValue()
	}
	shuffled := slices.Clone(e.ents)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(shuffled) {
		e.ents, e.sorted = append(e.ents[:0], shuffled...), false
		e.sort()
	}
}

// TestHashFirst checks what hashOf relies on: the elements sortByHash sorts
// begin with their hash.
func TestHashFirst(t *testing.T) {
	if unsafe.Offsetof(encEntry{}.hash) != 0 || unsafe.Offsetof(hashed[string, int64, []byte]{}.hash) != 0 {
		t.Fatal("a hash-sorted element does not begin with its hash")
	}
	x := hashed[int64, struct{}, int]{hash: 0xfeedface, k: nsKey[int64, struct{}]{k: 7}}
	if hashOf(&x) != 0xfeedface {
		t.Fatalf("hashOf = %#x", hashOf(&x))
	}
}
