package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// The tests below restore a keyed job from a MemorySnapshot taken by a run
// of it, and compare the state every restored subtask holds with the state
// the first run ended with.

const (
	restoreKeys    = 600 // distinct keys
	restoreRecords = 4 * restoreKeys
)

var (
	restoreSrcID   = OperatorID{0: 0x5c, 15: 1}
	restoreCountID = OperatorID{0: 0xc0, 15: 2}
)

func restoreKeyHash(k int) uint64 { return keyspace.HashUint64(uint64(k)) }

// ownedEntry is a backend.Entry that owns its bytes.
type ownedEntry struct {
	hash           uint64
	key, ns, value string
}

func cmpOwned(a, b ownedEntry) int {
	return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.key, b.key), cmp.Compare(a.ns, b.ns))
}

// tableEntries returns the entries of keyed state name of b, sorted.
func tableEntries(t *testing.T, b *hashmap.Backend[int], name string) []ownedEntry {
	t.Helper()
	tab := b.Table(name)
	if tab == nil {
		return nil
	}
	var out []ownedEntry
	if err := tab.Entries(keyspace.Full, func(e backend.Entry) error {
		out = append(out, ownedEntry{e.Hash, string(e.Key), string(e.Namespace), string(e.Value)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, cmpOwned)
	return out
}

// keyCountSink counts the records of every key in keyed state "count" and,
// for odd keys, in state "odd" too.
type keyCountSink struct {
	b          *hashmap.Backend[int]
	count, odd *hashmap.Value[int, int, int64]
	seen       *atomic.Int64
}

func (s *keyCountSink) Collect(_ int64, v *int) {
	k := *v % restoreKeys
	s.b.SetCurrentKey(k)
	if s.count != nil {
		n, _ := s.count.Get()
		s.count.Put(n + 1)
	}
	if k%2 == 1 {
		n, _ := s.odd.Get()
		s.odd.Put(n + 1)
	}
	s.seen.Add(1)
}

func (s *keyCountSink) Watermark(int64) {}

// idleSource emits 0, 1, ..., n-1 and then idles without ending, so that
// the job can take a snapshot once everything has been counted.
type idleSource struct {
	out     Output[int]
	next, n int
}

func (s *idleSource) Poll() (time.Duration, bool, error) {
	for i := 0; i < 100 && s.next < s.n; i++ {
		v := s.next
		s.next++
		s.out.Collect(int64(v), &v)
	}
	if s.next >= s.n {
		return time.Millisecond, false, nil
	}
	return 0, false, nil
}

// restoreJob is idleSource(1) -hash-> counter(p), or, chained,
// idleSource(p) -> counter(p) in one chain.
type restoreJob struct {
	nodes         []*Node
	seen          atomic.Int64
	makes, closes atomic.Int32
	declareCounts bool // whether the counter declares state "count"
	recordsToEmit int

	mu       sync.Mutex
	backends []*hashmap.Backend[int] // the counter's, by subtask
}

func newRestoreJob(records int, chained bool) *restoreJob {
	rj := &restoreJob{declareCounts: true, recordsToEmit: records}
	src := &Node{ID: restoreSrcID, Name: "numbers", Kind: "source", Parallelism: 1, Out: TypeOf[int]()}
	if chained {
		src.Parallelism = 0
	}
	src.Make = func(_ *Context, out any) (*Instance, error) {
		rj.makes.Add(1)
		return &Instance{Source: &idleSource{out: out.(Output[int]), n: rj.recordsToEmit},
			Close: func() error { rj.closes.Add(1); return nil }}, nil
	}
	sink := &Node{ID: restoreCountID, Name: "counter", Kind: "process"}
	sink.Make = func(ctx *Context, _ any) (*Instance, error) {
		rj.makes.Add(1)
		b := hashmap.New[int](serde.Int{}, restoreKeyHash, ctx.Now)
		s := &keyCountSink{b: b, seen: &rj.seen}
		var err error
		if rj.declareCounts {
			if s.count, err = hashmap.NewValue[int, int, int64](b, "count", backend.KindValue, serde.Int{}, serde.Int64{}, hashmap.TTL{}); err != nil {
				return nil, err
			}
		}
		if s.odd, err = hashmap.NewValue[int, int, int64](b, "odd", backend.KindValue, serde.Int{}, serde.Int64{}, hashmap.TTL{}); err != nil {
			return nil, err
		}
		rj.mu.Lock()
		if rj.backends == nil {
			rj.backends = make([]*hashmap.Backend[int], ctx.Parallelism())
		}
		rj.backends[ctx.Subtask()] = b
		rj.mu.Unlock()
		return &Instance{Inputs: [2]any{s}, Keyed: b, Close: func() error { rj.closes.Add(1); return nil }}, nil
	}
	if chained {
		Connect(src, sink, 0, PartitionForward, nil)
	} else {
		Connect(src, sink, 0, PartitionHash, func(v int) uint64 { return restoreKeyHash(v % restoreKeys) })
	}
	rj.nodes = graph(src, sink)
	return rj
}

// state returns, once the job has ended, the entries of the counter's
// keyed state name by subtask, checking that each subtask holds only keys
// of its range.
func (rj *restoreJob) state(t *testing.T, name string) [][]ownedEntry {
	t.Helper()
	rj.mu.Lock()
	defer rj.mu.Unlock()
	out := make([][]ownedEntry, len(rj.backends))
	for i, b := range rj.backends {
		r := keyspace.RangeOf(i, len(rj.backends))
		out[i] = tableEntries(t, b, name)
		for _, e := range out[i] {
			if !r.Contains(e.hash) {
				t.Fatalf("subtask %d/%d holds hash %016x of state %q, outside its range %v", i+1, len(rj.backends), e.hash, name, r)
			}
		}
	}
	return out
}

// stopWithSavepoint stops the job with a savepoint and returns the task
// snapshots of it.
func stopWithSavepoint(t *testing.T, j *Job, snaps <-chan TaskSnapshot, id uint64) []TaskSnapshot {
	t.Helper()
	if err := j.Trigger(Barrier{ID: id, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, snaps, j.Tasks())
	j.ResolveStop(id, true)
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	return got
}

// takeSnapshot runs the job at parallelism 2 until it has counted every
// record, stops it with a savepoint and returns the snapshot and the
// counter's state by state name, in (hash, key, namespace) order.
func takeSnapshot(t *testing.T) (*MemorySnapshot, map[string][]ownedEntry) {
	t.Helper()
	rj := newRestoreJob(restoreRecords, false)
	snaps := make(chan TaskSnapshot, 16)
	j, err := Start(context.Background(), rj.nodes, Options{Parallelism: 2, OnSnapshot: func(s TaskSnapshot) { snaps <- s }})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); rj.seen.Load() < restoreRecords; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			j.Cancel()
			_ = j.Wait()
			t.Fatalf("counted %d of %d records", rj.seen.Load(), restoreRecords)
		}
	}
	ms, err := NewMemorySnapshot(stopWithSavepoint(t, j, snaps, 1))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string][]ownedEntry{}
	for _, name := range []string{"count", "odd"} {
		for _, es := range rj.state(t, name) {
			all[name] = append(all[name], es...)
		}
		slices.SortFunc(all[name], cmpOwned)
	}
	if len(all["count"]) != restoreKeys || len(all["odd"]) != restoreKeys/2 {
		t.Fatalf("the first run ended with %d counts and %d odd counts, want %d and %d", len(all["count"]), len(all["odd"]), restoreKeys, restoreKeys/2)
	}
	return ms, all
}

// gatedSource wraps a RestoreSource. Every Keyed call of the counting
// operator waits (a while at most) until want of them are in flight, so
// that the test sees whether they run at once; fail, if set, can make one
// subtask's call fail or panic.
type gatedSource struct {
	RestoreSource
	want int

	mu       sync.Mutex
	inFlight int
	maxIn    int
	calls    int
	reached  bool // inFlight has reached want

	fail func(r keyspace.Range) error
}

func newGatedSource(src RestoreSource, want int) *gatedSource {
	return &gatedSource{RestoreSource: src, want: want}
}

func (g *gatedSource) Keyed(id OperatorID, r keyspace.Range, fn func(string, backend.Entry) error) error {
	if id != restoreCountID {
		return g.RestoreSource.Keyed(id, r, fn)
	}
	g.mu.Lock()
	g.calls++
	g.inFlight++
	g.maxIn = max(g.maxIn, g.inFlight)
	g.reached = g.reached || g.inFlight >= g.want
	deadline := time.Now().Add(5 * time.Second)
	for !g.reached && time.Now().Before(deadline) {
		g.mu.Unlock()
		time.Sleep(time.Millisecond)
		g.mu.Lock()
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	if g.fail != nil {
		if err := g.fail(r); err != nil {
			return err
		}
	}
	return g.RestoreSource.Keyed(id, r, fn)
}

func (g *gatedSource) stats() (calls, maxIn, inFlight int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, g.maxIn, g.inFlight
}

// TestParallelRestore restores the job at parallelism 3 and 4: every
// subtask must get exactly the entries of its hash range, and the subtasks'
// keyed state must load at once (as many at a time as GOMAXPROCS allows).
func TestParallelRestore(t *testing.T) {
	ms, all := takeSnapshot(t)
	for _, p := range []int{3, 4} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			want := min(4*runtime.GOMAXPROCS(0), p) // ParallelWidth in restorePending
			src := newGatedSource(ms, want)
			rj := newRestoreJob(0, false)
			j, err := Start(context.Background(), rj.nodes, Options{Parallelism: p, Restore: src})
			if err != nil {
				t.Fatal(err)
			}
			calls, maxIn, inFlight := src.stats()
			j.Cancel()
			if err := j.Wait(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait = %v, want context.Canceled", err)
			}
			if calls != p || inFlight != 0 {
				t.Errorf("after Start: %d keyed restores of the counter made, %d still running; want %d, 0", calls, inFlight, p)
			}
			if maxIn != want {
				t.Errorf("at most %d of the %d subtasks restored at once, want %d (4 x GOMAXPROCS %d)", maxIn, p, want, runtime.GOMAXPROCS(0))
			}
			for _, name := range []string{"count", "odd"} {
				got := rj.state(t, name)
				if len(got) != p {
					t.Fatalf("%d subtasks made, want %d", len(got), p)
				}
				for i, have := range got {
					r := keyspace.RangeOf(i, p)
					var wantEs []ownedEntry
					for _, e := range all[name] {
						if r.Contains(e.hash) {
							wantEs = append(wantEs, e)
						}
					}
					if len(wantEs) == 0 {
						t.Fatalf("state %q: no entries in range %d of %d; the test needs more keys", name, i, p)
					}
					if !slices.Equal(have, wantEs) {
						t.Errorf("subtask %d/%d, state %q: %d entries restored, want the %d of its range", i+1, p, name, len(have), len(wantEs))
					}
				}
			}
			if n := rj.closes.Load(); n != rj.makes.Load() {
				t.Errorf("%d operators made, %d closed", rj.makes.Load(), n)
			}
		})
	}
}

// checkNoLeak fails if goroutines started after before remain.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines leaked: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestParallelRestoreError: a keyed restore failing in one subtask fails
// Start with the error naming the operator and the subtask, after the other
// subtasks' restores have returned; every operator made is closed once and
// no goroutine is left behind. As before restores ran in parallel, the
// "creating" context names the head of the failing task's chain.
func TestParallelRestoreError(t *testing.T) {
	ms, _ := takeSnapshot(t)
	const p = 3
	bad := keyspace.RangeOf(1, p)
	injected := errors.New("injected restore failure")
	cases := []struct {
		name    string
		fail    func(r keyspace.Range) error
		declare bool
		chained bool
		// want matches the error message; check checks its chain.
		want  string
		check func(error) bool
	}{
		{"source error", func(r keyspace.Range) error {
			if r == bad {
				return injected
			}
			return nil
		}, true, false, `^engine: creating counter \(subtask 2/3\): injected restore failure$`,
			func(err error) bool { return errors.Is(err, injected) }},
		{"source error in a chain", func(r keyspace.Range) error {
			if r == bad {
				return injected
			}
			return nil
		}, true, true, `^engine: creating numbers \(subtask 2/3\): injected restore failure$`,
			func(err error) bool { return errors.Is(err, injected) }},
		{"panic", func(r keyspace.Range) error {
			if r == bad {
				panic(injected)
			}
			return nil
		}, true, false, `^engine: creating counter \(subtask 2/3\): panic: injected restore failure$`,
			func(err error) bool {
				var pe *PanicError
				return errors.As(err, &pe) && errors.Is(err, injected)
			}},
		{"state not declared", nil, false, false,
			`^engine: creating counter \(subtask 1/3\): operator "counter" \(uid \(none\), id c0+2\): the snapshot has keyed state "count", which this version of the operator does not declare when it opens; declare it again \(same names and types\) to keep it, or allow non-restored state \(-n/--allow-non-restored-state, weir.AllowNonRestoredState\) to drop it$`,
			func(error) bool { return true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			src := newGatedSource(ms, min(runtime.GOMAXPROCS(0), p))
			src.fail = c.fail
			rj := newRestoreJob(0, c.chained)
			rj.declareCounts = c.declare
			j, err := Start(context.Background(), rj.nodes, Options{Parallelism: p, Restore: src})
			if err == nil {
				j.Cancel()
				_ = j.Wait()
				t.Fatal("Start succeeded")
			}
			if !regexp.MustCompile(c.want).MatchString(err.Error()) || !c.check(err) {
				t.Fatalf("Start = %v, want an error matching %s", err, c.want)
			}
			if _, _, inFlight := src.stats(); inFlight != 0 {
				t.Fatalf("Start returned with %d restores still running", inFlight)
			}
			wantMakes := int32(1 + p)
			switch {
			case !c.declare:
				// Every operator is made, so that the error names
				// every one that does not declare its state, and no
				// state loads.
				wantMakes = 1 + p
			case c.chained:
				wantMakes = 2 * p
			}
			if makes, closes := rj.makes.Load(), rj.closes.Load(); makes != wantMakes || closes != makes {
				t.Fatalf("%d operators made (want %d), %d closed", makes, wantMakes, closes)
			}
			checkNoLeak(t, before)
		})
	}
}

// TestParallelRestoreNoNewAfterError: once a restore has failed, no
// restore that has not started yet starts. With GOMAXPROCS 1 the restores
// run one after another in build order, so the counter's third subtask is
// never restored when its second fails.
func TestParallelRestoreNoNewAfterError(t *testing.T) {
	ms, _ := takeSnapshot(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const p = 3
	injected := errors.New("injected restore failure")
	src := newGatedSource(ms, 1)
	src.fail = func(r keyspace.Range) error {
		if r == keyspace.RangeOf(1, p) {
			return injected
		}
		return nil
	}
	before := runtime.NumGoroutine()
	rj := newRestoreJob(0, false)
	_, err := Start(context.Background(), rj.nodes, Options{Parallelism: p, Restore: src})
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "engine: creating counter (subtask 2/3): ") {
		t.Fatalf("Start = %v, want the injected error of subtask 2/3", err)
	}
	if calls, _, _ := src.stats(); calls != 2 {
		t.Errorf("%d keyed restores of the counter started, want 2 (the third after the failure)", calls)
	}
	if makes, closes := rj.makes.Load(), rj.closes.Load(); makes != 1+p || closes != makes {
		t.Fatalf("%d operators made (want %d), %d closed", makes, 1+p, closes)
	}
	checkNoLeak(t, before)
}

// TestUndeclaredThenFailingOperator: an operator that fails to be made after
// one was found not to declare its restored state fails the build with both
// errors, and every operator made is closed.
func TestUndeclaredThenFailingOperator(t *testing.T) {
	ms, _ := takeSnapshot(t)
	rj := newRestoreJob(0, false)
	rj.declareCounts = false
	src := rj.nodes[0]
	broken := &Node{ID: OperatorID{0xb}, Name: "broken", Kind: "process"}
	broken.Make = func(*Context, any) (*Instance, error) { return nil, errors.New("broken make") }
	Connect(src, broken, 0, PartitionRebalance, nil)
	rj.nodes = graph(append(rj.nodes, broken)...)
	j, err := Start(context.Background(), rj.nodes, Options{Parallelism: 2, Restore: ms})
	if err == nil {
		j.Cancel()
		_ = j.Wait()
		t.Fatal("Start succeeded")
	}
	for _, want := range []string{`operator "counter"`, `keyed state "count"`, "engine: creating broken (subtask 1/2): broken make"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start = %v, want it to contain %q", err, want)
		}
	}
	if makes, closes := rj.makes.Load(), rj.closes.Load(); makes != 3 || closes != makes {
		t.Fatalf("%d operators made (want the source and both counters), %d closed", makes, closes)
	}
}
