package weir_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

// countSource emits 0, 1, 2, ... (interleaved across subtasks) with the
// value as event timestamp, up to limit records in all (forever if limit is
// 0). It counts emitted records and reader lifecycles.
type countSource struct {
	limit   int64
	failAt  int64 // Read fails once a reader has emitted this many; 0 never
	emitted atomic.Int64
	// onEmit, if set, is called before each record is emitted.
	onEmit         func(n int64)
	opened, closed atomic.Int64
}

func (s *countSource) Bounded() bool { return s.limit > 0 }

func (s *countSource) Splits(p int) ([][]byte, error) {
	out := make([][]byte, p)
	for i := range out {
		out[i] = []byte{byte(i), byte(p)}
	}
	return out, nil
}

func (s *countSource) NewReader(weir.SourceContext) (weir.SourceReader[int64], error) {
	s.opened.Add(1)
	return &countReader{s: s}, nil
}

type countReader struct {
	s            *countSource
	next, stride int64
	has          bool
	n            int64
}

func (r *countReader) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		r.next, r.stride, r.has = int64(b[0]), int64(b[1]), true
	}
	return nil
}

func (r *countReader) Read(out weir.SourceOutput[int64]) (weir.ReadStatus, error) {
	if !r.has {
		return weir.ReadStatus{Done: true}, nil
	}
	for range 256 {
		if r.s.limit > 0 && r.next >= r.s.limit {
			return weir.ReadStatus{Done: true}, nil
		}
		if r.s.failAt > 0 && r.n >= r.s.failAt {
			return weir.ReadStatus{}, errors.New("source read exploded")
		}
		n := r.s.emitted.Add(1)
		if r.s.onEmit != nil {
			r.s.onEmit(n)
		}
		v := r.next
		out.Emit(&v, v)
		r.next += r.stride
		r.n++
	}
	return weir.ReadStatus{}, nil
}

func (r *countReader) SnapshotSplits() ([][]byte, error) { return nil, nil }
func (r *countReader) Close() error                      { r.s.closed.Add(1); return nil }

// lifecycleSink counts writers opened and closed and can fail.
type lifecycleSink[T any] struct {
	writeErr  func(T) error
	flushErr  error
	newErr    error
	opened    atomic.Int64
	closed    atomic.Int64
	closedTwo atomic.Int64
	written   atomic.Int64
}

func (s *lifecycleSink[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	if s.newErr != nil {
		return nil, s.newErr
	}
	s.opened.Add(1)
	return &lifecycleWriter[T]{s: s}, nil
}

type lifecycleWriter[T any] struct {
	s      *lifecycleSink[T]
	closed bool
}

func (w *lifecycleWriter[T]) Write(v T) error {
	if w.s.writeErr != nil {
		if err := w.s.writeErr(v); err != nil {
			return err
		}
	}
	w.s.written.Add(1)
	return nil
}

func (w *lifecycleWriter[T]) Flush() error { return w.s.flushErr }

func (w *lifecycleWriter[T]) Close() error {
	if w.closed {
		w.s.closedTwo.Add(1)
	}
	w.closed = true
	w.s.closed.Add(1)
	return nil
}

var errBoom = errors.New("boom")

type failingOpener struct{}

func (failingOpener) Open(*weir.KeyedContext[int64]) error {
	return fmt.Errorf("cannot open: %w", errBoom)
}
func (failingOpener) ProcessElement(*weir.KeyedContext[int64], int64, weir.Collector[int64]) error {
	return nil
}

type timerFailer struct{}

func (timerFailer) ProcessElement(ctx *weir.KeyedContext[int64], v int64, _ weir.Collector[int64]) error {
	ctx.RegisterEventTimeTimer(v + 1)
	return nil
}

func (timerFailer) OnTimer(_ *weir.KeyedContext[int64], ts int64, _ weir.Collector[int64]) error {
	if ts > 5000 {
		return fmt.Errorf("timer %d: %w", ts, errBoom)
	}
	return nil
}

func mod10(v int64) int64 { return v % 10 }

// TestUserErrorsFailTheJob runs jobs whose user code fails, most of them on
// an unbounded source so that only the failure can end them. Execute must
// return promptly with the original error, every sink writer and source
// reader must be closed exactly once, and no goroutine may remain.
func TestUserErrorsFailTheJob(t *testing.T) {
	cases := []struct {
		name    string
		bounded bool
		build   func(src weir.Stream[int64], sink *lifecycleSink[int64])
		failAt  int64
		want    string
		is      error
	}{
		{name: "ProcessElement error", want: "process exploded at 3000", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			p := weir.Process(weir.KeyBy(src, mod10), weir.ProcessFunc[int64, int64, int64](
				func(_ *weir.KeyedContext[int64], v int64, out weir.Collector[int64]) error {
					if v == 3000 {
						return fmt.Errorf("process exploded at %d: %w", v, errBoom)
					}
					out.Collect(v)
					return nil
				}))
			weir.To(p, sink)
		}},
		{name: "sink Write error", want: "sink refused 777", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			sink.writeErr = func(v int64) error {
				if v == 777 {
					return fmt.Errorf("sink refused %d: %w", v, errBoom)
				}
				return nil
			}
			weir.To(src, sink)
		}},
		{name: "panic in Map", want: "map exploded at 1234", build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			m := weir.Map(src, func(v int64) int64 {
				if v == 1234 {
					panic(fmt.Sprintf("map exploded at %d", v))
				}
				return v
			})
			weir.To(m, sink)
		}},
		{name: "panic in a keyed function", want: "keyed panic", build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			p := weir.Process(weir.KeyBy(src, mod10), weir.ProcessFunc[int64, int64, int64](
				func(_ *weir.KeyedContext[int64], v int64, out weir.Collector[int64]) error {
					if v == 4321 {
						panic("keyed panic")
					}
					out.Collect(v)
					return nil
				}))
			weir.To(p, sink)
		}},
		{name: "OnTimer error", want: "OnTimer: timer 50", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			weir.To(weir.Process(weir.KeyBy(src, mod10), timerFailer{}), sink)
		}},
		{name: "window function error", want: "window function exploded", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			w := weir.WindowProcess(weir.KeyBy(src, mod10).Window(window.TumblingEventTime(time.Second)),
				func(_ int64, w window.TimeWindow, _ iter.Seq[int64], _ weir.Collector[int64]) error {
					if w.Start == 3000 {
						return fmt.Errorf("window function exploded: %w", errBoom)
					}
					return nil
				})
			weir.To(w, sink)
		}},
		{name: "source Read error", failAt: 2000, want: "source read exploded", build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			weir.To(src, sink)
		}},
		{name: "sink Flush error", bounded: true, want: "flush failed", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			sink.flushErr = fmt.Errorf("flush failed: %w", errBoom)
			weir.To(src, sink)
		}},
		{name: "sink NewWriter error", want: "no writer today", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			// A healthy sink is created first; the failing one after it.
			weir.To(src, sink)
			weir.To(weir.Map(src, func(v int64) int64 { return v }), &lifecycleSink[int64]{newErr: fmt.Errorf("no writer today: %w", errBoom)})
		}},
		{name: "Open error", want: "cannot open: boom", is: errBoom, build: func(src weir.Stream[int64], sink *lifecycleSink[int64]) {
			// The healthy sink's writers exist when Open fails; they must
			// still be closed.
			weir.To(src, sink)
			weir.To(weir.Process(weir.KeyBy(src, mod10), failingOpener{}), &lifecycleSink[int64]{})
		}},
	}
	for _, c := range cases {
		for _, p := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/p=%d", c.name, p), func(t *testing.T) {
				before := runtime.NumGoroutine()
				env := newEnv(weir.WithParallelism(p))
				src := &countSource{failAt: c.failAt}
				if c.bounded {
					src.limit = 10000
				}
				stream := weir.FromSource(env, src, weir.BoundedOutOfOrderness[int64](0))
				sink := &lifecycleSink[int64]{}
				c.build(stream, sink)
				err := wait(t, runAsync(context.Background(), env, "failing"))
				if err == nil {
					t.Fatal("Execute returned nil")
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %q does not contain %q", err, c.want)
				}
				if c.is != nil && !errors.Is(err, c.is) {
					t.Fatalf("error %q does not wrap %v", err, c.is)
				}
				if !strings.Contains(err.Error(), `job "failing"`) {
					t.Errorf("error %q does not name the job", err)
				}
				if o, cl := sink.opened.Load(), sink.closed.Load(); o != cl || sink.closedTwo.Load() != 0 {
					t.Errorf("sink writers: %d opened, %d closed, %d closed twice", o, cl, sink.closedTwo.Load())
				}
				if o, cl := src.opened.Load(), src.closed.Load(); o != cl {
					t.Errorf("source readers: %d opened, %d closed", o, cl)
				}
				checkNoLeaks(t, before)
			})
		}
	}
}

// TestCancelUnboundedJob cancels jobs whose sources never end: one idle
// (its Read returns Wait), one busy and back-pressured.
func TestCancelUnboundedJob(t *testing.T) {
	t.Run("idle source", func(t *testing.T) {
		before := runtime.NumGoroutine()
		env := newEnv(weir.WithParallelism(2))
		src := newPushSource[int](2)
		stream := weir.FromSource(env, src, weir.NoWatermarks[int]())
		seen := weir.Process(weir.KeyBy(stream, func(v int) int { return v }), weir.ProcessFunc[int, int, int](
			func(_ *weir.KeyedContext[int], v int, out weir.Collector[int]) error {
				out.Collect(v)
				return nil
			}))
		sink := newLiveSink[int]()
		weir.To(seen, sink)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := runAsync(ctx, env, "unbounded")
		for i := range 10 {
			src.Push(i%2, i, weir.NoTimestamp)
		}
		equalSorted(t, "records before cancel", sink.WaitLen(t, 10), ints(0, 10))
		select {
		case err := <-done:
			t.Fatalf("unbounded job ended by itself: %v", err)
		default:
		}
		cancel()
		err := wait(t, done)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute = %v, want context.Canceled", err)
		}
		checkNoLeaks(t, before)
	})
	t.Run("busy back-pressured source", func(t *testing.T) {
		before := runtime.NumGoroutine()
		env := newEnv(weir.WithParallelism(4))
		reached := make(chan struct{})
		var once sync.Once
		src := &countSource{onEmit: func(n int64) {
			if n == 100_000 {
				once.Do(func() { close(reached) })
			}
		}}
		stream := weir.FromSource(env, src, weir.BoundedOutOfOrderness[int64](0))
		// The slow sink writes freely until the source has produced
		// plenty, then blocks in user code, so that the other tasks are
		// blocked sending to each other when the test cancels.
		release := make(chan struct{})
		slow := &lifecycleSink[int64]{writeErr: func(int64) error {
			select {
			case <-reached:
				<-release
			default:
			}
			return nil
		}}
		weir.To(weir.Process(weir.KeyBy(stream, mod10), weir.ProcessFunc[int64, int64, int64](
			func(_ *weir.KeyedContext[int64], v int64, out weir.Collector[int64]) error {
				out.Collect(v)
				return nil
			})), &lifecycleSink[int64]{})
		weir.To(stream, slow).Parallelism(1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := runAsync(ctx, env, "busy")
		select {
		case <-reached:
		case <-time.After(waitTimeout):
			t.Fatal("the source never produced 100000 records")
		}
		cancel()
		close(release) // unblock the sink's user code; the engine cannot
		err := wait(t, done)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute = %v, want context.Canceled", err)
		}
		if o, c := src.opened.Load(), src.closed.Load(); o != 4 || c != 4 {
			t.Errorf("source readers: %d opened, %d closed, want 4 and 4", o, c)
		}
		if o, c := slow.opened.Load(), slow.closed.Load(); o != 1 || c != 1 {
			t.Errorf("sink writers: %d opened, %d closed, want 1 and 1", o, c)
		}
		checkNoLeaks(t, before)
	})
	t.Run("context cancelled before Execute", func(t *testing.T) {
		env := newEnv()
		weir.To(weir.FromSource(env, newPushSource[int](1), weir.NoWatermarks[int]()), memory.NewSink[int]())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := wait(t, runAsync(ctx, env, "dead")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute = %v, want context.Canceled", err)
		}
	})
}

// Back-pressure. The bound follows internal/engine/exchange.go: records
// cross tasks in batches of batchSize, and a channel buffers
// channelCapacity batches before its producer blocks.
const (
	batchSize       = 512
	channelCapacity = 4
	// hopBound is how many records one task boundary can hold while its
	// consumer is stuck on the first record of a batch: the batch being
	// delivered, the batches buffered in the channel, and the full batch
	// the producer is blocked sending.
	hopBound = (1 + channelCapacity + 1) * batchSize
)

// TestBackPressureBoundsInFlightRecords blocks a sink and checks that the
// source stops once the records between them fill the exchange, and that the
// gap between emitted and written records never exceeds the bound while the
// sink is released one record at a time.
func TestBackPressureBoundsInFlightRecords(t *testing.T) {
	cases := []struct {
		name  string
		hops  int
		build func(src weir.Stream[int64], sink weir.Sink[int64])
	}{
		{"source->map | sink", 1, func(src weir.Stream[int64], sink weir.Sink[int64]) {
			weir.To(weir.Map(src, func(v int64) int64 { return v }), sink).DisableChaining()
		}},
		{"source | map | sink", 2, func(src weir.Stream[int64], sink weir.Sink[int64]) {
			weir.To(weir.Map(src, func(v int64) int64 { return v }).DisableChaining(), sink)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const total = 30000
			bound := int64(c.hops * hopBound)
			var written, maxGap atomic.Int64
			plateau := make(chan struct{})
			var once sync.Once
			src := &countSource{limit: total, onEmit: func(n int64) {
				gap := n - written.Load()
				for {
					m := maxGap.Load()
					if gap <= m || maxGap.CompareAndSwap(m, gap) {
						break
					}
				}
				if n == bound {
					once.Do(func() { close(plateau) })
				}
			}}
			tokens := make(chan struct{})
			sink := &lifecycleSink[int64]{writeErr: func(int64) error {
				<-tokens
				written.Add(1)
				return nil
			}}
			env := newEnv()
			c.build(weir.FromSource(env, src, weir.NoWatermarks[int64]()), sink)
			done := runAsync(context.Background(), env, "back-pressure")

			// With the sink blocked on its first record the source fills
			// the exchange and must stop there.
			if c.hops == 1 {
				select {
				case <-plateau:
				case err := <-done:
					t.Fatalf("job ended early: %v", err)
				case <-time.After(waitTimeout):
					t.Fatalf("source emitted only %d records, expected it to fill %d", src.emitted.Load(), bound)
				}
			} else {
				// Two hops hold at least one hop's worth; wait for that.
				deadline := time.Now().Add(waitTimeout)
				for src.emitted.Load() < hopBound {
					if time.Now().After(deadline) {
						t.Fatalf("source emitted only %d records", src.emitted.Load())
					}
					runtime.Gosched()
				}
			}
			if n := src.emitted.Load(); n > bound {
				t.Fatalf("source ran %d records ahead of a blocked sink, bound %d", n, bound)
			}
			for range total {
				tokens <- struct{}{}
			}
			if err := wait(t, done); err != nil {
				t.Fatal(err)
			}
			if w := written.Load(); w != total {
				t.Fatalf("sink wrote %d records, want %d", w, total)
			}
			if g := maxGap.Load(); g > bound || g < hopBound {
				t.Fatalf("largest gap between emitted and written records %d, want within [%d, %d]", g, hopBound, bound)
			}
		})
	}
}
