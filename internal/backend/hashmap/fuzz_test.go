package hashmap_test

import (
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// restoreRunner is a table restored in runs.
type restoreRunner interface {
	backend.RunRestorer
	Len() int
}

// FuzzRestoreRun hands arbitrary bytes to the restore of each table kind as
// a run of n entries. It must return an error or take the run, never panic,
// and a run it took holds at most n entries (fewer if some merged). Runs
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
		for _, tb := range []restoreRunner{fx.value, fx.list, fx.m} {
			if err := tb.RestoreRun(run, n); err != nil {
				continue
			}
			if l := tb.Len(); l > n || n > 0 && l == 0 {
				t.Fatalf("RestoreRun of %d entries took it and holds %d", n, l)
			}
		}
	})
}
