package weir_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/examples/nexmark/queries"
	"github.com/weirstream/weir/examples/orders/orders"
)

// The oracle over real savepoint files (DESIGN.md §3), with stop points
// that do not depend on timing luck.
//
// The first run's sources are rate-limited by processing time, and its
// processing time is a gateClock that stands still until the test moves it.
// A paced reader emits event n only once the clock has passed n's due time,
// so once the clock is advanced by gate/gateRate seconds every source
// subtask reads up to event gate (give or take its offset among the
// subtasks) and no further: the job cannot end before it is stopped. The
// test waits (with a deadline) until the sink holds every result that must
// fire once the sources have reached the gate — those of windows ending
// before the watermark of events gateMargin before it — then stops the job
// with a savepoint, and checks that the first run's results are at least
// those and at most those that events up to the gate can fire. A job that
// ends, fails or stalls before the stop fails the test.
//
// The savepoint is moved to another directory and the job resumed from it,
// unpaced, at the same, a higher and a lower parallelism; the two runs'
// results together must be exactly one uninterrupted run's. Each job is
// stopped at two gates, at 30% and 70% of its events, whose ranges of
// possible cuts are checked not to overlap.

// gateRate is the pace of the first run's sources, in events (orders) per
// second of the gateClock: one per millisecond, so that a reader held at the
// gate polls every millisecond rather than spinning.
const gateRate = 1000

// gateMargin is how far, in events, every source subtask is certain to have
// read before the gate once it has caught up with the clock: a subtask of
// parallelism p owns every p-th event, and only a share of those are of its
// kind (persons are 1 in 50 Nexmark events, so one in at most 150 at p=3).
const gateMargin = 200

// gateClock is a manualClock that also tells when every paced source reader
// has read it once. A paced reader fixes its pace at its first reading of
// the clock (event n is due at first + (n - first event)/rate), so the test
// must not move the clock before that, or the reader starts late by as much.
// Readers are recognised by their Read method among the callers of Now and
// told apart by their goroutines (each source subtask runs on its own).
type gateClock struct {
	*manualClock
	want    int
	all     atomic.Bool
	mu      sync.Mutex
	readers map[uint64]bool // goroutines of readers that read the clock
	started chan struct{}   // closed once want readers have
}

func newGateClock(readers int) *gateClock {
	return &gateClock{
		manualClock: newManualClock(1_700_000_000_000),
		want:        readers,
		readers:     map[uint64]bool{},
		started:     make(chan struct{}),
	}
}

// Now implements weir.Clock. The time is read before the reader is counted,
// so that a reader's first reading is never one the test already moved.
func (c *gateClock) Now() time.Time {
	now := c.manualClock.Now()
	if !c.all.Load() && gateCalledFromReader() {
		id := gateGoroutineID()
		c.mu.Lock()
		if !c.readers[id] {
			c.readers[id] = true
			if len(c.readers) == c.want {
				c.all.Store(true)
				close(c.started)
			}
		}
		c.mu.Unlock()
	}
	return now
}

// startedReaders returns how many readers have read the clock.
func (c *gateClock) startedReaders() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.readers)
}

// gateCalledFromReader reports whether the Read method of a Nexmark or
// orders source reader is among the callers.
func gateCalledFromReader() bool {
	var pcs [16]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		fn := f.Function
		if strings.HasSuffix(fn, ".Read") && strings.Contains(fn, ".(*reader") &&
			(strings.Contains(fn, "/connector/nexmark.") || strings.Contains(fn, "/orders/orders.")) {
			return true
		}
		if !more {
			return false
		}
	}
}

// gateGoroutineID returns the current goroutine's number, from its stack
// header ("goroutine 42 [running]:").
func gateGoroutineID() uint64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		if id, err := strconv.ParseUint(s[:i], 10, 64); err == nil {
			return id
		}
	}
	panic("cannot parse the goroutine header " + strconv.Quote(s))
}

// filesCase is a job of the oracle over savepoint files.
type filesCase struct {
	name    string
	p       int   // the first run's parallelism
	events  int64 // the source's bound
	sources int   // source operators in the job
	// minTS and maxTS bound event n's timestamp.
	minTS, maxTS func(n int64) int64
	// wmDelay is the sources' bounded out-of-orderness.
	wmDelay time.Duration
	// job returns the job with its sources paced at rate (0: unpaced).
	job func(rate int64) oracleCase
}

// nexmarkFirstEventRate spaces the generator's events 5 ms apart in event
// time, so that a few tens of thousands of events span many windows.
const nexmarkFirstEventRate = 200

func nexmarkFilesCase(t *testing.T, name string, p int, events int64, sources int, q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[string], error)) filesCase {
	gcfg := nexmark.DefaultConfig()
	gcfg.FirstEventRate = nexmarkFirstEventRate
	g, err := nexmark.NewGenerator(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	return filesCase{
		name: name, p: p, events: events, sources: sources,
		minTS: g.Timestamp, maxTS: g.Timestamp, wmDelay: queries.WatermarkDelay,
		job: func(rate int64) oracleCase {
			return oracleCase{name: name, build: func(env *weir.Environment, sink weir.Sink[string]) error {
				cfg := nexmark.DefaultSourceConfig()
				cfg.Generator = gcfg
				cfg.Events, cfg.Rate = events, rate
				s, err := q(env, cfg)
				return attach(s, err, sink)
			}}
		},
	}
}

func ordersFilesCase(n int64) filesCase {
	base := orders.DefaultConfig()
	return filesCase{
		name: "orders", p: 2, events: n, sources: 1,
		// Order n is created at most MaxDelay-Interval before BaseTime+n*Interval.
		minTS: func(i int64) int64 {
			return base.BaseTime + i*base.Interval.Milliseconds() - (base.MaxDelay - base.Interval).Milliseconds()
		},
		maxTS:   func(i int64) int64 { return base.BaseTime + i*base.Interval.Milliseconds() },
		wmDelay: 2 * time.Second, // orders.Build's bounded out-of-orderness
		job: func(rate int64) oracleCase {
			return ordersCase(n, rate)
		},
	}
}

var filesWindowEndRE = regexp.MustCompile(`WindowEnd:(-?\d+)`)

// filesFiredBy counts the results whose window fires once the watermark has
// reached wm (a window [start, end) fires at end-1).
func filesFiredBy(t *testing.T, results []string, wm int64) int {
	t.Helper()
	n := 0
	for _, r := range results {
		m := filesWindowEndRE.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("result %q has no WindowEnd", r)
		}
		end, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if end-1 <= wm {
			n++
		}
	}
	return n
}

// filesStopPoint is where the first run is stopped: its sources are held at
// event gate, and the stop waits for at least atLeast results. No more than
// atMost can fire before the gate.
type filesStopPoint struct {
	gate            int64
	atLeast, atMost int
}

// filesStopPoints returns stop points at the given fractions of the events of a
// first run at parallelism p, checking that each one is strictly inside the
// run, with results on both sides, and that they cut the run at different
// places.
func filesStopPoints(t *testing.T, c filesCase, want []string, p int, fractions ...float64) []filesStopPoint {
	t.Helper()
	var out []filesStopPoint
	for _, f := range fractions {
		gate := int64(f * float64(c.events))
		// Subtask i of p reads events up to gate+i: every subtask has read
		// past gate-gateMargin, none past gate+p-1. A subtask's watermark
		// is its largest timestamp minus the delay, minus 1.
		low := c.minTS(gate-gateMargin) - c.wmDelay.Milliseconds() - 1
		high := c.maxTS(gate+int64(p)) - c.wmDelay.Milliseconds() - 1
		sp := filesStopPoint{gate: gate, atLeast: filesFiredBy(t, want, low), atMost: filesFiredBy(t, want, high)}
		if gate+int64(p) >= c.events || sp.atLeast == 0 || sp.atMost >= len(want) {
			t.Fatalf("%s: stop point at event %d of %d, after %d to %d of %d results: not strictly inside the run", c.name, gate, c.events, sp.atLeast, sp.atMost, len(want))
		}
		if len(out) > 0 && out[len(out)-1].atMost >= sp.atLeast {
			t.Fatalf("%s: stop points %+v and %+v may cut the run at the same place", c.name, out[len(out)-1], sp)
		}
		out = append(out, sp)
	}
	return out
}

// testOracleFiles checks c at two stop points, resuming at the first run's
// parallelism, a higher and a lower one.
func testOracleFiles(t *testing.T, c filesCase) {
	want := runToEnd(t, c.job(0), 2)
	points := filesStopPoints(t, c, want, c.p, 0.3, 0.7)
	t.Logf("%s: %d events, %d results; stop points %+v", c.name, c.events, len(want), points)
	for i, sp := range points {
		for _, p2 := range []int{c.p, c.p + 1, 1} {
			// Resumes at parallelism 1 read the files into memory
			// (WithRestoreCopy); the others map them.
			copyFiles := p2 == 1
			name := fmt.Sprintf("p%d->p%d/gate%d", c.p, p2, sp.gate)
			if copyFiles {
				name += "/copy"
			}
			t.Run(name, func(t *testing.T) {
				got := stopMoveResume(t, c, c.p, p2, sp, i%2 == 1, copyFiles)
				if !slices.Equal(got, want) {
					t.Fatalf("%d results, want %d; first differences: %v", len(got), len(want), diff(got, want))
				}
			})
		}
	}
}

// stopMoveResume runs c at parallelism p1 until sp, stops it with a
// savepoint written to a directory, moves the savepoint to another one,
// resumes from it at p2 (by its _metadata file if byMetadata, else by its
// directory; reading the files into memory if copyFiles), removes the
// savepoint once the resumed job has restored, and returns the results of
// both runs, sorted.
func stopMoveResume(t *testing.T, c filesCase, p1, p2 int, sp filesStopPoint, byMetadata, copyFiles bool) []string {
	t.Helper()
	dir := t.TempDir()
	clock := newGateClock(c.sources * p1)
	env1 := newEnv(weir.WithParallelism(p1), weir.WithClock(clock), weir.WithSavepointDir(filepath.Join(dir, "savepoints")))
	sink1 := newLiveSink[string]()
	if err := c.job(gateRate).build(env1, sink1); err != nil {
		t.Fatal(err)
	}
	job, err := env1.ExecuteAsync(context.Background(), c.name)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			job.Cancel()
			_ = job.Wait()
		}
	})
	ended := make(chan error, 1)
	go func() { ended <- job.Wait() }()
	deadline := time.After(waitTimeout)

	select {
	case <-clock.started:
	case err := <-ended:
		t.Fatalf("the job ended (%v) before its %d source readers started", err, clock.want)
	case <-deadline:
		t.Fatalf("only %d of %d source readers read the clock in %v", clock.startedReaders(), clock.want, waitTimeout)
	}
	// Open the gate: events [0, gate] (plus the subtask's offset) fall due.
	clock.Advance(time.Duration(sp.gate*1000/gateRate) * time.Millisecond)
	for n := 0; n < sp.atLeast; {
		select {
		case <-sink1.changed:
			n = len(sink1.Results())
		case err := <-ended:
			t.Fatalf("the job ended (%v) before the stop point: %d of %d results", err, len(sink1.Results()), sp.atLeast)
		case <-deadline:
			t.Fatalf("%d of the %d results due before the gate at event %d in %v", len(sink1.Results()), sp.atLeast, sp.gate, waitTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	path, err := job.StopWithSavepoint(ctx, "", false)
	stopped = err == nil
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	if filepath.Dir(path) != filepath.Join(dir, "savepoints") {
		t.Fatalf("savepoint written to %q, not into %q", path, filepath.Join(dir, "savepoints"))
	}
	before := sink1.Results()
	if len(before) < sp.atLeast || len(before) > sp.atMost {
		t.Fatalf("%d results before the stop at event %d, want %d to %d", len(before), sp.gate, sp.atLeast, sp.atMost)
	}

	moved := filepath.Join(dir, "moved", "elsewhere")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the savepoint is still at %s after the move: %v", path, err)
	}
	from := moved
	if byMetadata {
		from = filepath.Join(moved, "_metadata")
	}
	opts := []weir.Option{weir.WithParallelism(p2), weir.FromSavepoint(from)}
	if copyFiles {
		opts = append(opts, weir.WithRestoreCopy())
	}
	env2 := newEnv(opts...)
	sink2 := memory.NewSink[string]()
	if err := c.job(0).build(env2, sink2); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel2()
	job2, err := env2.ExecuteAsync(ctx2, c.name)
	if err != nil {
		t.Fatal(err)
	}
	// The state is restored: the savepoint may go (as a claimed one does)
	// while the job still holds state in its mapped files.
	if err := os.RemoveAll(moved); err != nil {
		t.Fatal(err)
	}
	if err := job2.Wait(); err != nil {
		t.Fatal(err)
	}
	after := sink2.Results()
	if len(after) == 0 {
		t.Fatal("the resumed job produced no results: the stop was not inside the run")
	}
	t.Logf("p%d->p%d, gate at event %d: %d results before the stop (%d to %d possible), %d after", p1, p2, sp.gate, len(before), sp.atLeast, sp.atMost, len(after))
	all := append(before, after...)
	slices.Sort(all)
	return all
}

func TestOracleFilesQ5(t *testing.T) {
	testOracleFiles(t, nexmarkFilesCase(t, "q5", 2, 30_000, 1, formatted(queries.Q5)))
}

// TestOracleFilesQ8 stops its first run at parallelism 2, where a Persons
// subtask's split holds no person at all (only event numbers that are
// multiples of 50 are persons): its watermark moves on only because the
// source reports how far it has read (weir.Progressor). Without that, the
// join's watermark would stay at its minimum until the bounded source ends
// and no stop point could wait for a result.
func TestOracleFilesQ8(t *testing.T) {
	testOracleFiles(t, nexmarkFilesCase(t, "q8", 2, 60_000, 2, formatted(queries.Q8)))
}

func TestOracleFilesQ11(t *testing.T) {
	testOracleFiles(t, nexmarkFilesCase(t, "q11", 2, 30_000, 1, formatted(queries.Q11)))
}

func TestOracleFilesOrders(t *testing.T) {
	testOracleFiles(t, ordersFilesCase(3_000))
}
