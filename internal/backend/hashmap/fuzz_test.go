package hashmap_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// restoreRunner is a table restored in runs.
type restoreRunner interface {
	backend.Table
	backend.RunRestorer
}

// FuzzRestoreRun hands arbitrary bytes to the restore of each table kind as
// a run of n entries. It must return an error or take the run, never panic,
// and a run it took holds at most n entries (fewer if some merged). Whole
// entries restore alike with and without offsets, and from read-only memory
// the table may keep (backend.Run.Keep). Runs
// come from blocks the reader has checked, so this is defence in depth.
func FuzzRestoreRun(f *testing.F) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		f.Fatal(err)
	}
	good := backend.Entry{Hash: hash("k"), Key: serde.String{}.Append(nil, "k"), Namespace: serde.Int64{}.Append(nil, 0), Value: serde.Int64{}.Append(nil, 7)}
	f.Add(backend.AppendEncoded(nil, good), 1)
	f.Add(backend.AppendEncoded(backend.AppendEncoded(nil, good), good), 2)
	f.Add([]byte{1, 2, 3}, 1)
	f.Add(backend.AppendEncoded(nil, backend.Entry{Hash: 3, Value: make([]byte, 200)}), 1)
	f.Fuzz(func(t *testing.T, run []byte, n int) {
		fx := newFixture(t, 0)
		indexed, ok := indexRun(run)
		ix, mx := newFixture(t, 0), newFixture(t, 0)
		for i, tb := range []restoreRunner{fx.value, fx.list, fx.m} {
			err := tb.RestoreRun(backend.Run{Bytes: run, N: n})
			if ok && indexed.N == n {
				// A run as a reader hands it over, with offsets: the
				// same outcome.
				itb := []restoreRunner{ix.value, ix.list, ix.m}[i]
				ierr := itb.RestoreRun(indexed)
				if (err == nil) != (ierr == nil) || err == nil && itb.Len() != tb.Len() {
					t.Fatalf("run of %d entries: without offsets %v and %d entries, with them %v and %d", n, err, tb.Len(), ierr, itb.Len())
				}
				if err == nil && !slices.Equal(collect(t, itb, keyspace.Full), collect(t, tb, keyspace.Full)) {
					t.Fatalf("run of %d entries: the table restored with offsets holds other entries", n)
				}
				// And in read-only memory the table may keep: the
				// same outcome again.
				mapped := indexed
				mapped.Bytes, mapped.Keep = readOnly(indexed.Bytes)
				mtb := []restoreRunner{mx.value, mx.list, mx.m}[i]
				merr := mtb.RestoreRun(mapped)
				if (err == nil) != (merr == nil) || err == nil && !slices.Equal(collect(t, mtb, keyspace.Full), collect(t, tb, keyspace.Full)) {
					t.Fatalf("run of %d entries: without offsets %v, mapped %v and other entries", n, err, merr)
				}
			}
			if err != nil {
				continue
			}
			if l := tb.Len(); l > n || n > 0 && l == 0 {
				t.Fatalf("RestoreRun of %d entries took it and holds %d", n, l)
			}
		}
	})
}

// indexRun returns run with the offsets of its entries, as a reader finds
// them, if it is whole entries in ascending hash order.
func indexRun(run []byte) (backend.Run, bool) {
	r := backend.Run{Bytes: run, Offsets: []uint32{}, Distinct: true}
	var prev uint64
	for off := 0; off < len(run); {
		size := backend.MeasureEncoded(run[off:])
		if size == 0 {
			return r, false
		}
		h := binary.LittleEndian.Uint64(run[off:])
		switch {
		case r.N > 0 && h < prev:
			return r, false
		case r.N > 0 && h == prev:
			r.Distinct = false
		}
		r.Offsets = append(r.Offsets, uint32(off))
		r.N++
		prev = h
		off += size
	}
	return r, true
}
