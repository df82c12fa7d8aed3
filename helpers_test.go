package weir_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
)

// waitTimeout bounds every wait on the job's progress. It is a failure
// guard, never a synchronisation device: tests wait on events.
const waitTimeout = 20 * time.Second

// manualClock is a weir.Clock that only moves when the test advances it.
// AfterFunc callbacks run synchronously, in deadline order, in the goroutine
// that calls Advance (or in AfterFunc itself when the deadline has already
// passed).
//
// The engine arms a callback with AfterFunc(at - Now()). A test must not
// advance the clock between those two calls, or the deadline moves: after
// anything that makes the engine arm a callback, wait for it with
// WaitTimer before advancing.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	seq     int
	timers  []*manualTimer
	changed chan struct{}
}

type manualTimer struct {
	c   *manualClock
	at  time.Time
	seq int
	f   func()
}

func newManualClock(startMillis int64) *manualClock {
	return &manualClock{now: time.UnixMilli(startMillis), changed: make(chan struct{}, 1)}
}

// WaitTimer waits until a callback is armed for the given time.
func (c *manualClock) WaitTimer(t *testing.T, atMillis int64) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		for _, tm := range c.timers {
			if tm.at.UnixMilli() == atMillis {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("no callback armed for %d", atMillis)
		}
	}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NowMillis() int64 { return c.Now().UnixMilli() }

func (c *manualClock) AfterFunc(d time.Duration, f func()) weir.Timer {
	c.mu.Lock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	if d <= 0 {
		c.mu.Unlock()
		f()
		return t
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = slices.Delete(t.c.timers, i, i+1)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d and runs the callbacks that fell due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, rest []*manualTimer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *manualTimer) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, t := range due {
		t.f()
	}
}

// Pending returns the number of armed callbacks.
func (c *manualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func TestManualClock(t *testing.T) {
	c := newManualClock(1000)
	var fired []string
	c.AfterFunc(20*time.Millisecond, func() { fired = append(fired, "b") })
	c.AfterFunc(10*time.Millisecond, func() { fired = append(fired, "a") })
	stopped := c.AfterFunc(15*time.Millisecond, func() { fired = append(fired, "x") })
	c.AfterFunc(0, func() { fired = append(fired, "now") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.Advance(9 * time.Millisecond)
	if want := []string{"now"}; !slices.Equal(fired, want) {
		t.Fatalf("after 9ms fired %v, want %v", fired, want)
	}
	c.Advance(11 * time.Millisecond)
	if want := []string{"now", "a", "b"}; !slices.Equal(fired, want) {
		t.Fatalf("after 20ms fired %v, want %v", fired, want)
	}
	if got := c.NowMillis(); got != 1020 {
		t.Fatalf("Now = %d, want 1020", got)
	}
	if c.Pending() != 0 {
		t.Fatalf("%d callbacks still pending", c.Pending())
	}
}

// item is a record pushed into a pushSource with its event timestamp.
type item[T any] struct {
	V  T
	TS int64
}

// pushSource is an unbounded source fed by the test: one split per channel.
// A reader emits what its channels hold and asks to be polled again soon
// when they are empty; it is done once all its channels are closed and
// drained. A source with fewer channels than subtasks leaves subtasks
// without splits.
type pushSource[T any] struct {
	chans []chan item[T]
	// armed makes the next Read that finds nothing signal emptyRead.
	armed     atomic.Bool
	emptyRead chan struct{}
}

// WaitEmptyRead waits for a Read that finds no record and starts after the
// call. The source's idleness check follows that Read in the same poll, so
// once this returns, a source whose idleness timeout has passed on the clock
// is idle, and it is idle before it reads anything pushed afterwards.
func (s *pushSource[T]) WaitEmptyRead(t *testing.T) {
	t.Helper()
	s.armed.Store(true)
	select {
	case <-s.emptyRead:
	case <-time.After(waitTimeout):
		t.Fatal("the source never polled")
	}
}

func newPushSource[T any](splits int) *pushSource[T] {
	s := &pushSource[T]{emptyRead: make(chan struct{}, 1)}
	for range splits {
		s.chans = append(s.chans, make(chan item[T], 1<<16))
	}
	return s
}

func (s *pushSource[T]) Push(split int, v T, ts int64) { s.chans[split] <- item[T]{v, ts} }

// CloseAll closes every split.
func (s *pushSource[T]) CloseAll() {
	for _, c := range s.chans {
		close(c)
	}
}

func (s *pushSource[T]) Bounded() bool { return false }

func (s *pushSource[T]) Splits(int) ([][]byte, error) {
	out := make([][]byte, len(s.chans))
	for i := range out {
		out[i] = []byte{byte(i)}
	}
	return out, nil
}

func (s *pushSource[T]) NewReader(weir.SourceContext) (weir.SourceReader[T], error) {
	return &pushReader[T]{s: s}, nil
}

type pushReader[T any] struct {
	s      *pushSource[T]
	mine   []chan item[T]
	splits [][]byte // mine[i] is split splits[i]
}

func (r *pushReader[T]) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		if int(b[0]) >= len(r.s.chans) {
			continue // restored into a source with fewer splits: ended
		}
		r.mine = append(r.mine, r.s.chans[b[0]])
		r.splits = append(r.splits, b)
	}
	return nil
}

func (r *pushReader[T]) Read(out weir.SourceOutput[T]) (weir.ReadStatus, error) {
	armed := r.s.armed.Load()
	open, emitted := 0, 0
	for i, c := range r.mine {
		if c == nil {
			continue
		}
		open++
	drain:
		for n := 0; n < 1024; n++ {
			select {
			case it, ok := <-c:
				if !ok {
					r.mine[i] = nil
					open--
					break drain
				}
				v := it.V
				out.Emit(&v, it.TS)
				emitted++
			default:
				break drain
			}
		}
	}
	if open == 0 {
		return weir.ReadStatus{Done: true}, nil
	}
	if emitted == 0 && armed && r.s.armed.CompareAndSwap(true, false) {
		r.s.emptyRead <- struct{}{}
	}
	return weir.ReadStatus{Wait: time.Millisecond}, nil
}

// SnapshotSplits returns the splits still open, so that a job restored
// with a new pushSource reads the same splits of it (their positions are
// not kept: a restored job reads what is pushed after the restore).
func (r *pushReader[T]) SnapshotSplits() ([][]byte, error) {
	var open [][]byte
	for i, c := range r.mine {
		if c != nil {
			open = append(open, r.splits[i])
		}
	}
	return open, nil
}

func (r *pushReader[T]) Close() error { return nil }

// liveSink collects records as they are written, so that a test can wait
// for results of a job that is still running.
type liveSink[T any] struct {
	mu      sync.Mutex
	got     []T
	changed chan struct{}
}

func newLiveSink[T any]() *liveSink[T] { return &liveSink[T]{changed: make(chan struct{}, 1)} }

func (s *liveSink[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	return liveWriter[T]{s}, nil
}

type liveWriter[T any] struct{ s *liveSink[T] }

func (w liveWriter[T]) Write(v T) error {
	w.s.mu.Lock()
	w.s.got = append(w.s.got, v)
	w.s.mu.Unlock()
	select {
	case w.s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (w liveWriter[T]) Flush() error { return nil }
func (w liveWriter[T]) Close() error { return nil }

func (s *liveSink[T]) Results() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// WaitLen waits until the sink holds at least n records and returns them.
func (s *liveSink[T]) WaitLen(t *testing.T, n int) []T {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if got := s.Results(); len(got) >= n {
			return got
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d results; have %v", n, s.Results())
		}
	}
}

// WaitFor waits until done reports true for the records so far and returns
// them.
func (s *liveSink[T]) WaitFor(t *testing.T, done func([]T) bool) []T {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if got := s.Results(); done(got) {
			return got
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for results; have %v", s.Results())
		}
	}
}

// tagged is a record with the sink subtask that wrote it.
type tagged[T any] struct {
	Subtask int
	V       T
}

// subtaskSink records which sink subtask received each record.
type subtaskSink[T any] struct {
	mu  sync.Mutex
	got []tagged[T]
}

func (s *subtaskSink[T]) NewWriter(ctx weir.SinkContext) (weir.SinkWriter[T], error) {
	return &subtaskWriter[T]{s: s, sub: ctx.Subtask}, nil
}

func (s *subtaskSink[T]) Results() []tagged[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

type subtaskWriter[T any] struct {
	s   *subtaskSink[T]
	sub int
}

func (w *subtaskWriter[T]) Write(v T) error {
	w.s.mu.Lock()
	w.s.got = append(w.s.got, tagged[T]{w.sub, v})
	w.s.mu.Unlock()
	return nil
}
func (w *subtaskWriter[T]) Flush() error { return nil }
func (w *subtaskWriter[T]) Close() error { return nil }

// run executes env with a timeout that turns a hang into a failure.
func run(t *testing.T, env *weir.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := env.Execute(ctx, t.Name()); err != nil {
		t.Fatal(err)
	}
}

// runAsync starts env.Execute and returns a channel with its result.
func runAsync(ctx context.Context, env *weir.Environment, name string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- env.Execute(ctx, name) }()
	return done
}

// wait returns the result of runAsync or fails the test on a hang.
func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		buf := make([]byte, 1<<20)
		t.Fatalf("job did not finish in %v; goroutines:\n%s", waitTimeout, buf[:runtime.Stack(buf, true)])
		return nil
	}
}

// checkNoLeaks fails if goroutines started after `before` was taken are
// still running once they have had a moment to exit.
func checkNoLeaks(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines leaked: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// sorted returns a sorted copy of s.
func sorted[T cmp.Ordered](s []T) []T {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// equalSorted fails unless got and want hold the same elements.
func equalSorted[T cmp.Ordered](t *testing.T, what string, got, want []T) {
	t.Helper()
	g, w := sorted(got), sorted(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\n got  %v\n want %v", what, g, w)
	}
}

// equalSeq fails unless got and want are identical sequences.
func equalSeq[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func sprint(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ":")
}

// kv is a keyed, timestamped test record.
type kv struct {
	K  string
	TS int64
	V  int64
}

func kvTS(r kv) int64   { return r.TS }
func kvKey(r kv) string { return r.K }

// kvSource is a bounded source of records with their timestamps, one
// record per read so that a watermark follows every record.
func kvSource(env *weir.Environment, recs []kv, bound time.Duration) weir.Stream[kv] {
	return weir.FromSource(env, memorySource(recs), weir.BoundedOutOfOrderness[kv](bound))
}

// memorySource is a memory source of kv records that emits one record per
// read, so that the watermark advances after every record.
func memorySource(recs []kv) *memory.Source[kv] {
	return memory.NewSource(recs, memory.WithTimestamps(kvTS), memory.WithPacing[kv](1, 0))
}

// newEnv returns an environment that logs nothing (operators without UIDs
// warn, which would drown the test output).
func newEnv(opts ...weir.Option) *weir.Environment {
	return weir.NewEnvironment(append([]weir.Option{weir.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
}
