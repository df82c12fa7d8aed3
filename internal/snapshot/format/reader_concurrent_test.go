package format

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// concurrentRead is one ReadKeyed call of TestReadKeyedConcurrently.
type concurrentRead struct {
	op    OperatorID
	state string
	r     keyspace.Range
	// stopAfter > 0 makes fn fail after that many entries.
	stopAfter int

	got   []entry
	stats ReadStats
	err   error
}

var errStopRead = errors.New("test: stop reading")

// readConcurrently runs every read on its own goroutine, all released at
// once so that they race from their very first step (the lazily created
// zstd decoder included).
func readConcurrently(s *Snapshot, reads []*concurrentRead) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, rd := range reads {
		wg.Go(func() {
			<-start
			rd.err = s.ReadKeyed(rd.op, rd.state, rd.r, func(e backend.Entry) error {
				if rd.stopAfter > 0 && len(rd.got) == rd.stopAfter {
					return errStopRead
				}
				rd.got = append(rd.got, own(e))
				return nil
			}, WithStats(&rd.stats))
		})
	}
	close(start)
	wg.Wait()
}

// checkStatsAddUp checks that the per-read stats add up to the snapshot's
// totals: the shared counters lose nothing to concurrent updates.
func checkStatsAddUp(t *testing.T, s *Snapshot, reads []*concurrentRead) {
	t.Helper()
	var sum ReadStats
	for _, rd := range reads {
		sum.Bytes += rd.stats.Bytes
		sum.Blocks += rd.stats.Blocks
		sum.Entries += rd.stats.Entries
	}
	if sum != s.Stats() {
		t.Fatalf("the reads' stats add up to %+v, the snapshot counted %+v", sum, s.Stats())
	}
}

// TestReadKeyedConcurrently reads disjoint hash ranges of every keyed state
// of one *Snapshot from many goroutines at once (run it with -race): the
// ranges of each state, put together in order, must equal one full read of
// it, each range read twice at once must give the same entries, and reads
// that stop early must not disturb the others.
func TestReadKeyedConcurrently(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"raw", Options{BlockSize: 512, Compression: NoCompression}},
		{"zstd", Options{BlockSize: 512, Compression: ZstdCompression}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := writeFixture(t, t.TempDir(), &c.opts)

			// The reference: one full read of each state, through a
			// Snapshot of its own.
			ref, err := Open(fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			want := map[OperatorID]map[string][]entry{}
			for op, states := range fx.keyed {
				want[op] = map[string][]entry{}
				for name := range states {
					want[op][name] = readAll(t, ref, op, name, keyspace.Full, nil)
					if !slices.Equal(want[op][name], fx.keyed[op][name]) {
						t.Fatalf("%s: the full read differs from what was written", name)
					}
				}
			}

			s, err := Open(fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			const p, rounds = 5, 2
			// reads[op][state][round][j] reads range j of p.
			reads := map[OperatorID]map[string][rounds][]*concurrentRead{}
			var all, stopped []*concurrentRead
			for op, states := range fx.keyed {
				reads[op] = map[string][rounds][]*concurrentRead{}
				for name := range states {
					var byRound [rounds][]*concurrentRead
					for round := range rounds {
						for j := range p {
							rd := &concurrentRead{op: op, state: name, r: keyspace.RangeOf(j, p)}
							byRound[round] = append(byRound[round], rd)
							all = append(all, rd)
						}
					}
					reads[op][name] = byRound
					// One more read of the whole state that gives up early.
					rd := &concurrentRead{op: op, state: name, r: keyspace.Full, stopAfter: 10}
					stopped = append(stopped, rd)
					all = append(all, rd)
				}
			}
			readConcurrently(s, all)

			for op, states := range reads {
				for name, byRound := range states {
					for round := range rounds {
						var union []entry
						for j, rd := range byRound[round] {
							if rd.err != nil {
								t.Fatalf("%s range %d of %d: %v", name, j, p, rd.err)
							}
							if w := ofSubtask(want[op][name], j, p); !slices.Equal(rd.got, w) {
								t.Fatalf("%s range %d of %d (round %d): %d entries, want %d", name, j, p, round, len(rd.got), len(w))
							}
							union = append(union, rd.got...)
						}
						if !slices.Equal(union, want[op][name]) {
							t.Fatalf("%s (round %d): the %d ranges together yield %d entries, want the %d of a full read, in order",
								name, round, p, len(union), len(want[op][name]))
						}
					}
				}
			}
			for _, rd := range stopped {
				n := min(10, len(want[rd.op][rd.state]))
				if n == 10 && !errors.Is(rd.err, errStopRead) || n < 10 && rd.err != nil {
					t.Fatalf("%s: the read that stops after 10 entries returned %v", rd.state, rd.err)
				}
				if !slices.Equal(rd.got, want[rd.op][rd.state][:n]) {
					t.Fatalf("%s: the read that stops after 10 entries got %d entries, not the first %d", rd.state, len(rd.got), n)
				}
			}
			checkStatsAddUp(t, s, all)
		})
	}
}

// TestReadKeyedConcurrentlyOverlapping is TestReadKeyedConcurrently for a
// state whose files overlap in hash, which the reader merges.
func TestReadKeyedConcurrentlyOverlapping(t *testing.T) {
	w, err := CreateIn(filepath.Join(t.TempDir(), "snap"), &Options{BlockSize: 256, Compression: ZstdCompression})
	if err != nil {
		t.Fatal(err)
	}
	var want []entry
	st := State{Name: "s", Kind: KeyedValue}
	for sub := range 4 {
		kw, err := w.Keyed(opAgg, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := kw.StartState("s"); err != nil {
			t.Fatal(err)
		}
		// Every file spreads over the whole hash space.
		for i := range 800 {
			e := entry{uint64(i*4+sub) << 50, fmt.Sprintf("k%d-%d", sub, i), "", fmt.Sprintf("value %d of file %d, repeated repeated", i, sub)}
			want = append(want, e)
			if err := kw.Add(e.backend()); err != nil {
				t.Fatal(err)
			}
		}
		files, err := kw.Close()
		if err != nil {
			t.Fatal(err)
		}
		st.Files = append(st.Files, files["s"])
	}
	slices.SortFunc(want, cmpEntry)
	md := &Metadata{Kind: Checkpoint, Operators: []Operator{{ID: opAgg, Parallelism: 4, States: []State{st}}}}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
	s, err := Open(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if full := readAll(t, s, opAgg, "s", keyspace.Full, nil); !slices.Equal(full, want) {
		t.Fatalf("full read: %d entries, want %d", len(full), len(want))
	}
	for _, p := range []int{2, 3, 7} {
		var reads []*concurrentRead
		for j := range p {
			reads = append(reads, &concurrentRead{op: opAgg, state: "s", r: keyspace.RangeOf(j, p)})
		}
		readConcurrently(s, reads)
		var union []entry
		for j, rd := range reads {
			if rd.err != nil {
				t.Fatalf("p=%d range %d: %v", p, j, rd.err)
			}
			union = append(union, rd.got...)
		}
		if !slices.Equal(union, want) {
			t.Fatalf("p=%d: the ranges together yield %d entries, want the %d of a full read, in order", p, len(union), len(want))
		}
	}
}
