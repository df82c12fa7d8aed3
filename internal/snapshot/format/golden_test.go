package format

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

var update = flag.Bool("update", false, "write the golden snapshot of the current format version into testdata/golden")

// Golden snapshots: testdata/golden/v<N>/savepoint-.../ is a snapshot
// written by format version N. Each is kept forever: every later build must
// read it and find goldenContent in it. Regenerate only the current
// version's, with go test -run TestGolden -update, when its layout changes
// before release.

// goldenContent is the deterministic content of the golden snapshots:
// metadata without the data-file index, and the keyed entries per state.
func goldenContent() (*Metadata, map[OperatorID]map[string][]entry) {
	rng := rand.New(rand.NewPCG(2024, 11))
	random := make([]entry, 0, 200)
	for i := range 200 {
		v := make([]byte, 24)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		key := fmt.Sprintf("r%d", i)
		random = append(random, entry{keyspace.Hash([]byte(key)), key, "", string(v)})
	}
	slices.SortFunc(random, cmpEntry)
	keyed := map[OperatorID]map[string][]entry{
		opAgg: {
			"count":  genState(rng, "golden", 400, 1),
			"window": genState(rng, "golden", 150, 3),
			"timers": genState(rng, "golden", 50, 2),
		},
		opJoin: {"random": random, "empty": nil},
	}
	md := &Metadata{
		EngineVersion: "weir golden",
		JobName:       "golden job",
		JobID:         [16]byte{0x60, 0x1d, 0xe0},
		SnapshotID:    7,
		Kind:          Savepoint,
		Timestamp:     1_700_000_000_000,
		Operators: []Operator{
			{ID: opSource, UID: "bids", Name: "Source: bids", Parallelism: 2, States: []State{
				{Name: "source-splits", Kind: ListEvenSplit, ValueSchema: []byte("split-schema"),
					Lists: []OperatorList{{Elements: [][]byte{[]byte("p0@17"), []byte("p2@5")}}, {Elements: [][]byte{[]byte("p1@9")}}}},
				{Name: "union", Kind: ListUnion, ValueSchema: []byte("u"), Lists: []OperatorList{{}, {Elements: [][]byte{nil}}}},
			}},
			{ID: opAgg, UID: "counts", Name: "Window(count)", Parallelism: 2, States: []State{
				{Name: "count", Kind: KeyedValue, KeySchema: []byte("string"), ValueSchema: []byte("int64")},
				{Name: "window", Kind: KeyedList, KeySchema: []byte("string"), NamespaceSchema: []byte("window"), ValueSchema: []byte("bid")},
				{Name: "timers", Kind: EventTimers, KeySchema: []byte("string"), NamespaceSchema: []byte("window")},
			}},
			{ID: opJoin, Name: "join", Parallelism: 2, States: []State{
				{Name: "random", Kind: KeyedMap, KeySchema: []byte("k"), ValueSchema: []byte("v")},
				{Name: "empty", Kind: KeyedAggregating},
				{Name: "proc", Kind: ProcessingTimers},
			}},
		},
	}
	return md, keyed
}

func writeGolden(t *testing.T, dir string) {
	md, keyed := goldenContent()
	w, err := CreateIn(dir, &Options{BlockSize: 512, Compression: ZstdCompression})
	if err != nil {
		t.Fatal(err)
	}
	for oi := range md.Operators {
		op := &md.Operators[oi]
		for sub := range op.Parallelism {
			kw, err := w.Keyed(op.ID, sub)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range op.States {
				if !st.Kind.IsKeyed() {
					continue
				}
				if err := kw.StartState(st.Name); err != nil {
					t.Fatal(err)
				}
				for _, e := range ofSubtask(keyed[op.ID][st.Name], sub, op.Parallelism) {
					if err := kw.Add(e.backend()); err != nil {
						t.Fatal(err)
					}
				}
			}
			files, err := kw.Close()
			if err != nil {
				t.Fatal(err)
			}
			for si := range op.States {
				if f, ok := files[op.States[si].Name]; ok {
					op.States[si].Files = append(op.States[si].Files, f)
				}
			}
		}
	}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
}

func TestGolden(t *testing.T) {
	if *update {
		vdir := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", Version))
		if err := os.RemoveAll(vdir); err != nil {
			t.Fatal(err)
		}
		writeGolden(t, filepath.Join(vdir, "savepoint-601de0-000000000001"))
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "golden", "v*", "savepoint-*"))
	if len(dirs) == 0 {
		t.Fatal("no golden snapshots in testdata/golden")
	}
	wantMD, wantKeyed := goldenContent()
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("v%d", s.Metadata().FormatVersion); filepath.Base(filepath.Dir(dir)) != want {
				t.Fatalf("format version %d in %s", s.Metadata().FormatVersion, dir)
			}
			// The golden snapshot has both raw and compressed blocks.
			var flags [2]int
			for _, op := range s.Metadata().Operators {
				for _, st := range op.States {
					for _, f := range st.Files {
						b, err := os.ReadFile(filepath.Join(dir, f.Path))
						if err != nil {
							t.Fatal(err)
						}
						for _, blk := range f.Blocks {
							flags[b[blk.Offset]&blockZstd]++
						}
					}
				}
			}
			if flags[0] == 0 || flags[1] == 0 {
				t.Fatalf("golden snapshot has %d raw and %d compressed blocks; it should have both", flags[0], flags[1])
			}
			// Metadata, apart from the data-file index, is as written.
			got := *s.Metadata()
			got.FormatVersion = 0
			got.Operators = slices.Clone(got.Operators)
			for i := range got.Operators {
				got.Operators[i].States = slices.Clone(got.Operators[i].States)
				for j := range got.Operators[i].States {
					got.Operators[i].States[j].Files = nil
				}
			}
			if !reflect.DeepEqual(&got, wantMD) {
				t.Fatalf("metadata:\n got %+v\nwant %+v", &got, wantMD)
			}
			// Keyed state reads back at several parallelisms.
			for op, states := range wantKeyed {
				for name, want := range states {
					for _, p := range []int{1, 2, 3} {
						var all []entry
						for j := range p {
							all = append(all, readAll(t, s, op, name, keyspace.RangeOf(j, p), nil)...)
						}
						if !slices.Equal(all, want) {
							t.Fatalf("%s/%s at p=%d: %d entries, want %d", op, name, p, len(all), len(want))
						}
					}
				}
			}
			if err := s.ReadKeyed(opJoin, "proc", keyspace.Full, func(backend.Entry) error { return nil }); err != nil {
				t.Fatal(err)
			}
		})
	}
}
