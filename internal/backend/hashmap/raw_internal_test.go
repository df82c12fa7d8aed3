package hashmap

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// TestRawMemory: restored raw entries take about their own size in memory,
// restored entry by entry or in runs.
func TestRawMemory(t *testing.T) {
	for _, c := range []struct {
		runs        bool
		n, valBytes int
	}{
		{false, 300_000, 40},
		{true, 300_000, 40},
		// Shards of 1 KB entries take buffers of their own, megabytes
		// each: one that moves holds twice its data.
		{true, 40_000, 1000},
	} {
		runs := c.runs
		t.Run(fmt.Sprintf("runs=%v/value=%d", runs, c.valBytes), func(t *testing.T) {
			hash, err := keyspace.HasherFor[int64]()
			if err != nil {
				t.Fatal(err)
			}
			b := New[int64](serde.Int64{}, hash, func() int64 { return 0 })
			v, err := NewValue[int64, struct{}, []byte](b, "v", backend.KindValue, serde.Of[struct{}](), serde.Bytes{}, TTL{})
			if err != nil {
				t.Fatal(err)
			}
			n := c.n
			es := make([]backend.Entry, n)
			for i := range es {
				k := binary.BigEndian.AppendUint64(nil, uint64(i))
				es[i] = backend.Entry{Hash: hash(int64(i)), Key: k, Value: serde.Bytes{}.Append(nil, make([]byte, c.valBytes+i%17))}
			}
			sortEntries(es)
			v.Reserve(n, keyspace.Full)
			var run []byte
			data, inRun := 0, 0
			for i, e := range es {
				data += backend.EncodedLen(e)
				if !runs {
					if err := v.Restore(e); err != nil {
						t.Fatal(err)
					}
					continue
				}
				run = backend.AppendEncoded(run, e)
				if inRun++; len(run) >= 64<<10 || i == n-1 {
					if err := v.RestoreRun(backend.Run{Bytes: run, N: inRun}); err != nil {
						t.Fatal(err)
					}
					run, inRun = run[:0], 0
				}
			}
			held := 0
			v.st.shards(func(sh *shard[nsKey[int64, struct{}], *entry[[]byte]]) {
				if sh.raw != nil {
					held += cap(sh.raw.buf)
					for _, p := range sh.raw.pieces {
						held += cap(p)
					}
				}
			})
			if v.Len() != n {
				t.Fatalf("Len %d, want %d", v.Len(), n)
			}
			if held > data+data/8 {
				t.Fatalf("raw buffers hold %d bytes for %d bytes of entries", held, data)
			}
			t.Logf("raw buffers: %d bytes for %d bytes of entries", held, data)
		})
	}
}

func sortEntries(es []backend.Entry) {
	// Hashes are distinct here: order by hash.
	slices.SortFunc(es, func(a, b backend.Entry) int { return cmp.Compare(a.Hash, b.Hash) })
}
