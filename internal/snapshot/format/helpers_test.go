package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// entry is a backend.Entry that owns its bytes.
type entry struct {
	Hash           uint64
	Key, Ns, Value string
}

func own(e backend.Entry) entry {
	return entry{e.Hash, string(e.Key), string(e.Namespace), string(e.Value)}
}

func (e entry) backend() backend.Entry {
	return backend.Entry{Hash: e.Hash, Key: []byte(e.Key), Namespace: []byte(e.Ns), Value: []byte(e.Value)}
}

func cmpEntry(a, b entry) int {
	switch {
	case a.Hash != b.Hash:
		if a.Hash < b.Hash {
			return -1
		}
		return 1
	case a.Key != b.Key:
		if a.Key < b.Key {
			return -1
		}
		return 1
	case a.Ns != b.Ns:
		if a.Ns < b.Ns {
			return -1
		}
		return 1
	}
	return 0
}

// genState generates the entries of one keyed state: n keys, each with
// 1..maxNs namespaces, sorted by (hash, key, namespace). Values mix
// compressible text and random bytes.
func genState(rng *rand.Rand, prefix string, n, maxNs int) []entry {
	var es []entry
	for i := range n {
		key := fmt.Sprintf("%s-key-%d", prefix, i)
		if i == 0 {
			key = "" // an empty key
		}
		h := keyspace.Hash([]byte(key))
		for j := range 1 + rng.IntN(maxNs) {
			ns := ""
			if maxNs > 1 {
				ns = string(binary.BigEndian.AppendUint64(nil, uint64(j)*10_000))
			}
			var v []byte
			switch rng.IntN(3) {
			case 0:
				v = fmt.Appendf(nil, "value of %s in window %d: some repetitive text text text", key, j)
			case 1:
				v = make([]byte, rng.IntN(40))
				for k := range v {
					v[k] = byte(rng.Uint32())
				}
			case 2:
				// empty value
			}
			es = append(es, entry{h, key, ns, string(v)})
		}
	}
	slices.SortFunc(es, cmpEntry)
	return es
}

// ofSubtask returns the entries whose hash subtask i of p owns.
func ofSubtask(es []entry, i, p int) []entry {
	r := keyspace.RangeOf(i, p)
	var out []entry
	for _, e := range es {
		if r.Contains(e.Hash) {
			out = append(out, e)
		}
	}
	return out
}

// fixture is a written snapshot and what it holds.
type fixture struct {
	dir   string
	md    *Metadata
	keyed map[OperatorID]map[string][]entry // all entries per keyed state
}

var (
	opSource = OperatorID{0: 0x51, 15: 1}
	opAgg    = OperatorID{0: 0xa9, 15: 2}
	opJoin   = OperatorID{0: 0x10, 15: 3}
)

const writeParallelism = 4

// writeFixture writes a snapshot with three operators: a source with
// operator list state, an aggregation with keyed value, list and timer
// state, and a join with map state, an empty state and processing timers,
// the keyed state coming from 4 subtasks written concurrently.
func writeFixture(t testing.TB, parent string, opts *Options) *fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	fx := &fixture{keyed: map[OperatorID]map[string][]entry{
		opAgg: {
			"count":           genState(rng, "agg", 3000, 1),
			"window-contents": genState(rng, "agg", 1500, 3),
			"timers":          genState(rng, "agg", 800, 2),
		},
		opJoin: {
			"buffer":    genState(rng, "join", 2000, 4),
			"empty":     nil,
			"proctimer": genState(rng, "join", 5, 1),
		},
	}}
	kinds := map[string]StateKind{"count": KeyedValue, "window-contents": KeyedList, "timers": EventTimers,
		"buffer": KeyedMap, "empty": KeyedReducing, "proctimer": ProcessingTimers}
	order := map[OperatorID][]string{
		opAgg:  {"count", "window-contents", "timers"},
		opJoin: {"buffer", "empty", "proctimer"},
	}

	jobID := [16]byte{0xde, 0xad, 0xbe, 0xef}
	w, err := Create(parent, jobID, opts)
	if err != nil {
		t.Fatal(err)
	}
	fx.dir = w.Dir()

	// Keyed state: 4 subtasks per operator, written concurrently.
	type result struct {
		op    OperatorID
		files map[string]KeyedFile
	}
	results := make(chan result, 2*writeParallelism)
	var wg sync.WaitGroup
	for _, op := range []OperatorID{opAgg, opJoin} {
		for i := range writeParallelism {
			wg.Go(func() {
				kw, err := w.Keyed(op, i)
				if err != nil {
					t.Error(err)
					return
				}
				for _, name := range order[op] {
					if err := kw.StartState(name); err != nil {
						t.Error(err)
						return
					}
					for _, e := range ofSubtask(fx.keyed[op][name], i, writeParallelism) {
						if err := kw.Add(e.backend()); err != nil {
							t.Error(err)
							return
						}
					}
				}
				files, err := kw.Close()
				if err != nil {
					t.Error(err)
					return
				}
				results <- result{op, files}
			})
		}
	}
	wg.Wait()
	close(results)
	if t.Failed() {
		t.FailNow()
	}
	collected := map[OperatorID]map[string][]KeyedFile{}
	for r := range results {
		if collected[r.op] == nil {
			collected[r.op] = map[string][]KeyedFile{}
		}
		for name, f := range r.files {
			collected[r.op][name] = append(collected[r.op][name], f)
		}
	}
	keyedStates := func(op OperatorID) []State {
		var sts []State
		for _, name := range order[op] {
			files := collected[op][name]
			slices.SortFunc(files, func(a, b KeyedFile) int { return cmpString(a.Path, b.Path) })
			sts = append(sts, State{Name: name, Kind: kinds[name],
				KeySchema: []byte("string"), NamespaceSchema: []byte("window"), ValueSchema: []byte("int64 " + name),
				Files: files})
		}
		return sts
	}
	splits := make([]OperatorList, writeParallelism)
	for i := range splits {
		for j := range i + 1 {
			splits[i].Elements = append(splits[i].Elements, fmt.Appendf(nil, "split-%d-%d@offset=%d", i, j, 1000*i+j))
		}
	}
	splits[2].Elements = append(splits[2].Elements, nil) // an empty element
	fx.md = &Metadata{
		EngineVersion: "weir v0.0.0-test",
		JobName:       "fixture job",
		JobID:         jobID,
		SnapshotID:    42,
		Kind:          Savepoint,
		Timestamp:     1_700_000_000_123,
		Operators: []Operator{
			{ID: opSource, UID: "bids", Name: "Source: bids", Parallelism: writeParallelism, States: []State{
				{Name: "source-splits", Kind: ListEvenSplit, ValueSchema: []byte("split"), Lists: splits},
				{Name: "watermarks", Kind: ListUnion, ValueSchema: []byte("int64"),
					Lists: []OperatorList{{Elements: [][]byte{[]byte("w0")}}, {}, {Elements: [][]byte{[]byte("w2")}}, {}}},
			}},
			{ID: opAgg, UID: "auction-counts", Name: "Window(count)", Parallelism: writeParallelism, States: keyedStates(opAgg)},
			{ID: opJoin, Name: "IntervalJoin", Parallelism: writeParallelism, States: keyedStates(opJoin)},
		},
	}
	if _, err := os.Stat(filepath.Join(fx.dir, MetadataFile)); err == nil {
		t.Fatal("_metadata exists before Finish")
	}
	if err := w.Finish(fx.md); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n := e.Name(); n != MetadataFile && !(strings.HasPrefix(n, "keyed-") && strings.HasSuffix(n, ".dat")) {
			t.Fatalf("finished snapshot holds %s", n)
		}
	}
	fx.md.FormatVersion = Version
	return fx
}

func cmpString(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// readAll reads one keyed state over r.
func readAll(t testing.TB, s *Snapshot, op OperatorID, state string, r keyspace.Range, st *ReadStats) []entry {
	t.Helper()
	var out []entry
	if err := s.ReadKeyed(op, state, r, func(e backend.Entry) error {
		out = append(out, own(e))
		return nil
	}, WithStats(st)); err != nil {
		t.Fatal(err)
	}
	// ReadKeyedRuns yields the same entries, in runs that hold exactly
	// their announced number of entries, at their offsets if it gives
	// them, and no two with one hash if it says so.
	var runs []entry
	var rs ReadStats
	if err := s.ReadKeyedRuns(op, state, r, func(run backend.Run) error {
		if run.Offsets != nil && len(run.Offsets) != run.N {
			return fmt.Errorf("%d offsets for a run of %d entries", len(run.Offsets), run.N)
		}
		p := run.Bytes
		for i := range run.N {
			if off := len(run.Bytes) - len(p); run.Offsets != nil && int(run.Offsets[i]) != off {
				return fmt.Errorf("entry %d of a run starts at %d, its offset says %d", i, off, run.Offsets[i])
			}
			e, rest, err := backend.NextEncoded(p)
			if err != nil {
				return err
			}
			if i > 0 && run.Distinct && e.Hash == runs[len(runs)-1].Hash {
				return fmt.Errorf("a run said to be distinct has two entries with hash %016x", e.Hash)
			}
			runs = append(runs, own(e))
			p = rest
		}
		if len(p) != 0 {
			return fmt.Errorf("%d bytes after the announced entries of a run", len(p))
		}
		return nil
	}, WithStats(&rs)); err != nil {
		t.Fatalf("ReadKeyedRuns: %v", err)
	}
	if !slices.Equal(runs, out) {
		t.Fatalf("ReadKeyedRuns yields %d entries differing from ReadKeyed's %d", len(runs), len(out))
	}
	if st != nil && (rs.Entries != st.Entries || rs.Bytes != st.Bytes) {
		t.Fatalf("ReadKeyedRuns read %d entries and %d bytes, ReadKeyed %d and %d", rs.Entries, rs.Bytes, st.Entries, st.Bytes)
	}
	// Mapped, the runs that carry a Keep stay readable after the call and
	// through garbage collections for as long as it is held; together
	// with the copies of the others, they are the same entries.
	type kept struct {
		b    []byte
		n    int
		keep any
	}
	var held []kept
	var ms ReadStats
	if err := s.ReadKeyedRuns(op, state, r, func(run backend.Run) error {
		b := run.Bytes
		if run.Keep == nil {
			b = slices.Clone(b)
		}
		held = append(held, kept{b, run.N, run.Keep})
		return nil
	}, WithStats(&ms), Mapped()); err != nil {
		t.Fatalf("ReadKeyedRuns, mapped: %v", err)
	}
	runtime.GC()
	runtime.GC()
	var mapped []entry
	for _, k := range held {
		p := k.b
		for range k.n {
			e, rest, err := backend.NextEncoded(p)
			if err != nil {
				t.Fatalf("ReadKeyedRuns, mapped: a kept run: %v", err)
			}
			mapped = append(mapped, own(e))
			p = rest
		}
		runtime.KeepAlive(k.keep)
	}
	if !slices.Equal(mapped, out) {
		t.Fatalf("ReadKeyedRuns, mapped, yields %d entries differing from ReadKeyed's %d", len(mapped), len(out))
	}
	if st != nil && (ms.Entries != st.Entries || ms.Bytes != st.Bytes) {
		t.Fatalf("ReadKeyedRuns, mapped, read %d entries and %d bytes, ReadKeyed %d and %d", ms.Entries, ms.Bytes, st.Entries, st.Bytes)
	}
	return out
}

// copyDir copies the flat snapshot directory src into a new temp dir.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}
