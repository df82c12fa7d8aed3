package format

import (
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
)

// TestScanBlockGuesses checks scanBlock, which guesses each entry's lengths
// from the entry before it, against the entry-by-entry walk (scanRef) on
// payloads whose shapes repeat, change, start empty and use multi-byte
// lengths, and on every one-byte change and truncation of them: the two
// must accept the same payloads and find the same run.
func TestScanBlockGuesses(t *testing.T) {
	fill := func(n int) []byte { return make([]byte, n) }
	shapes := map[string][]backend.Entry{}
	var same, mixed, empty, long []backend.Entry
	for i := range 12 {
		h := uint64(i) * 1000
		same = append(same, backend.Entry{Hash: h, Key: fill(8), Value: fill(48)})
		mixed = append(mixed, backend.Entry{Hash: h, Key: fill(8), Namespace: fill(i % 3), Value: fill(4 + i%2)})
		empty = append(empty, backend.Entry{Hash: h / 2000 * 1000, Value: fill(i / 6)}) // repeated hashes too
		long = append(long, backend.Entry{Hash: h, Key: fill(1 + 150*(i%2)), Value: fill(127 + i%3)})
	}
	shapes["same"], shapes["mixed"], shapes["empty"], shapes["long"] = same, mixed, empty, long

	check := func(t *testing.T, p []byte, idx *Block, what string) {
		t.Helper()
		for _, r := range [][2]uint64{{0, ^uint64(0)}, {2500, 7000}, {0, 0}, {11000, ^uint64(0)}} {
			want, wantOK := scanRef(p, idx, r[0], r[1])
			got, err := scanBlock(p, idx, 0, r[0], r[1], nil)
			if (err == nil) != wantOK {
				t.Fatalf("%s, range %v: scanBlock error %v, the entry-by-entry walk accepts: %v", what, r, err, wantOK)
			}
			if err != nil {
				continue
			}
			if got.n != want.n || got.past != want.past || got.n > 0 && string(p[got.start:got.end]) != string(want.run) ||
				!slices.Equal(got.offs, want.offs) || got.n > 0 && got.distinct != want.distinct {
				t.Fatalf("%s, range %v: scanBlock finds %d entries (past %v, offsets %v, distinct %v), the walk %d (past %v, offsets %v, distinct %v)",
					what, r, got.n, got.past, got.offs, got.distinct, want.n, want.past, want.offs, want.distinct)
			}
		}
	}
	for name, es := range shapes {
		t.Run(name, func(t *testing.T) {
			var p []byte
			for _, e := range es {
				p = appendEntry(p, e)
			}
			idx := Block{FirstHash: es[0].Hash, LastHash: es[len(es)-1].Hash, Entries: uint64(len(es))}
			check(t, p, &idx, "intact")
			if sc, err := scanBlock(p, &idx, 0, 0, ^uint64(0), nil); err != nil || sc.n != uint64(len(es)) {
				t.Fatalf("intact payload: %d entries, %v", sc.n, err)
			}
			for i := range p {
				for _, b := range []byte{0, 1, p[i] + 1, p[i] - 1, 0x7f, 0x80, 0xff} {
					q := slices.Clone(p)
					q[i] = b
					check(t, q, &idx, "byte changed")
				}
				check(t, p[:i], &idx, "truncated")
			}
		})
	}
}
