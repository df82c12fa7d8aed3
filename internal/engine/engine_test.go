package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The helpers below build graphs of int-typed nodes directly, without the
// typed API.

type intSource struct {
	next, limit int
	out         Output[int]
	onEmit      func(n int)
}

func (s *intSource) Poll() (time.Duration, bool, error) {
	for range 100 {
		if s.next >= s.limit {
			s.out.Watermark(MaxWatermark)
			return 0, true, nil
		}
		s.next++
		if s.onEmit != nil {
			s.onEmit(s.next)
		}
		v := s.next
		s.out.Collect(int64(v), &v)
	}
	return 0, false, nil
}

func sourceNode(name string, limit int, onEmit func(int)) *Node {
	return &Node{Kind: "source", Name: name, Out: TypeOf[int](), Make: func(_ *Context, out any) (*Instance, error) {
		return &Instance{Source: &intSource{limit: limit, out: out.(Output[int]), onEmit: onEmit}}, nil
	}}
}

type funcOutput struct {
	collect func(ts int64, v int)
	wm      func(int64)
}

func (f funcOutput) Collect(ts int64, v *int) { f.collect(ts, *v) }
func (f funcOutput) Watermark(wm int64) {
	if f.wm != nil {
		f.wm(wm)
	}
}

func mapNode(name string, f func(int) int) *Node {
	return &Node{Kind: "map", Name: name, Out: TypeOf[int](), Make: func(_ *Context, out any) (*Instance, error) {
		o := out.(Output[int])
		return &Instance{Inputs: [2]any{funcOutput{
			collect: func(ts int64, v int) { r := f(v); o.Collect(ts, &r) },
			wm:      o.Watermark,
		}}}, nil
	}}
}

func sinkNode(name string, write func(ctx *Context, v int)) *Node {
	return &Node{Kind: "sink", Name: name, Make: func(ctx *Context, _ any) (*Instance, error) {
		return &Instance{Inputs: [2]any{funcOutput{collect: func(_ int64, v int) { write(ctx, v) }}}}, nil
	}}
}

func graph(nodes ...*Node) []*Node {
	for i, n := range nodes {
		n.Index = i
	}
	return nodes
}

func TestCompileChains(t *testing.T) {
	src := sourceNode("src", 10, nil)
	m1 := mapNode("m1", func(v int) int { return v })
	m2 := mapNode("m2", func(v int) int { return v })
	m3 := mapNode("m3", func(v int) int { return v })
	m3.Parallelism = 3
	sink := sinkNode("sink", func(*Context, int) {})
	sink2 := sinkNode("sink2", func(*Context, int) {})
	sink2.Parallelism = 3
	Connect(src, m1, 0, PartitionDefault, nil)
	Connect(m1, m2, 0, PartitionDefault, nil)
	Connect(m2, sink, 0, PartitionDefault, nil)
	Connect(m1, m3, 0, PartitionDefault, nil)
	Connect(m3, sink2, 0, PartitionDefault, nil)
	p, err := Compile(graph(src, m1, m2, m3, sink, sink2), 2)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range p.Chain(src) {
		names = append(names, n.Name)
	}
	if want := []string{"src", "m1", "m2", "sink"}; !slices.Equal(names, want) {
		t.Errorf("chain of src = %v, want %v", names, want)
	}
	var heads []string
	for _, n := range p.Nodes {
		if p.IsHead(n) {
			heads = append(heads, n.Name)
		}
	}
	if want := []string{"src", "m3"}; !slices.Equal(heads, want) {
		t.Errorf("heads = %v, want %v", heads, want)
	}
	if got := p.Partition[m3.Inputs[0]]; got != PartitionRebalance {
		t.Errorf("edge into m3 (parallelism 3 after 2) is %v, want REBALANCE", got)
	}
	if p.Parallelism[sink] != 2 || p.Parallelism[m3] != 3 {
		t.Errorf("parallelism: sink %d, m3 %d", p.Parallelism[sink], p.Parallelism[m3])
	}
}

func TestCompileErrors(t *testing.T) {
	src := sourceNode("src", 10, nil)
	sink := sinkNode("sink", func(*Context, int) {})
	Connect(src, sink, 0, PartitionHash, nil)
	if _, err := Compile(graph(src, sink), 1); err == nil || !strings.Contains(err.Error(), "has no key") {
		t.Errorf("hash edge without a key: %v", err)
	}
	src = sourceNode("src", 10, nil)
	src.Make = nil
	if _, err := Compile(graph(src, sinkNode("sink", nil)), 1); err == nil || !strings.Contains(err.Error(), "no implementation") {
		t.Errorf("node without Make: %v", err)
	}
}

// valve drives a task's watermark logic directly: the task's inputs are
// channels that are fed by hand.
type valve struct {
	t   *task
	in  []*inChannel
	out []int64
	// whileIdle records a watermark passed on while the task was idle.
	whileIdle bool
}

func newValve(n int) *valve {
	v := &valve{t: &task{wm: MinWatermark}}
	v.t.headWatermark = func(wm int64) {
		v.out = append(v.out, wm)
		v.whileIdle = v.whileIdle || v.t.idle
	}
	for range n {
		c := &inChannel{wm: MinWatermark}
		v.in = append(v.in, c)
		v.t.inputs = append(v.t.inputs, c)
	}
	return v
}

func (v *valve) send(i int, kind msgKind, wm int64) { v.t.handle(v.in[i], message{kind: kind, wm: wm}) }

func TestWatermarkValve(t *testing.T) {
	type step struct {
		input int
		kind  msgKind
		wm    int64
		// the watermarks the head operator receives after the step
		want []int64
		idle bool // whether the task is idle after the step
	}
	cases := []struct {
		name   string
		inputs int
		steps  []step
	}{
		{"minimum over inputs", 3, []step{
			{0, msgWatermark, 10, nil, false},
			{1, msgWatermark, 20, nil, false},
			{2, msgWatermark, 5, []int64{5}, false},
			{2, msgWatermark, 30, []int64{10}, false},
			{0, msgWatermark, 40, []int64{20}, false},
			{1, msgWatermark, 25, []int64{25}, false},
		}},
		{"idle inputs do not count", 3, []step{
			{0, msgWatermark, 10, nil, false},
			{1, msgIdle, 0, nil, false},
			{2, msgWatermark, 50, []int64{10}, false},
			{0, msgWatermark, 60, []int64{50}, false},
			// Back from idleness behind the others: not aligned, so it
			// neither takes the watermark back nor holds it...
			{1, msgActive, 0, nil, false},
			{1, msgWatermark, 45, nil, false},
			{2, msgWatermark, 70, []int64{60}, false},
			// ...until it reaches the task's watermark and rejoins.
			{1, msgWatermark, 65, nil, false},
			{0, msgWatermark, 80, []int64{65}, false},
		}},
		{"back from idleness ahead of the watermark: aligned at once", 2, []step{
			{0, msgWatermark, 10, nil, false},
			{1, msgWatermark, 40, []int64{10}, false},
			{1, msgIdle, 0, nil, false},
			{0, msgWatermark, 30, []int64{30}, false},
			{1, msgActive, 0, nil, false},
			{0, msgWatermark, 50, []int64{40}, false},
		}},
		{"the last input going idle flushes the maximum", 3, []step{
			{0, msgWatermark, 10, nil, false},
			{1, msgWatermark, 30, nil, false},
			{2, msgWatermark, 20, []int64{10}, false},
			{1, msgIdle, 0, nil, false},
			{0, msgIdle, 0, []int64{20}, false},
			// Input 1 (idle) holds the maximum: the task advances to it,
			// then goes idle.
			{2, msgIdle, 0, []int64{30}, true},
			// Back behind the flushed watermark: active but not aligned.
			{2, msgActive, 0, nil, false},
			{2, msgWatermark, 25, nil, false},
			{2, msgWatermark, 35, []int64{35}, false},
		}},
		{"an ended input is not flushed", 2, []step{
			{0, msgWatermark, 50, nil, false},
			{0, msgEnd, 0, nil, false},
			{1, msgWatermark, 10, []int64{10}, false},
			{1, msgIdle, 0, nil, true},
		}},
		{"all idle makes the task idle", 2, []step{
			{0, msgWatermark, 10, nil, false},
			{1, msgWatermark, 30, []int64{10}, false},
			{1, msgIdle, 0, nil, false},
			{0, msgIdle, 0, []int64{30}, true},
			{1, msgActive, 0, nil, false}, // at 30: aligned
			{1, msgWatermark, 40, []int64{40}, false},
			{0, msgActive, 0, nil, false}, // at 10: not aligned
			{0, msgWatermark, 30, nil, false},
			{1, msgWatermark, 50, []int64{50}, false},
			{0, msgWatermark, 55, nil, false}, // aligned
			{1, msgWatermark, 60, []int64{55}, false},
		}},
		{"ended inputs do not count", 2, []step{
			{0, msgWatermark, 10, nil, false},
			{0, msgWatermark, MaxWatermark, nil, false},
			{0, msgEnd, 0, nil, false},
			{1, msgWatermark, 15, []int64{15}, false},
			{1, msgEnd, 0, []int64{MaxWatermark}, false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newValve(c.inputs)
			for i, s := range c.steps {
				v.out = nil
				v.send(s.input, s.kind, s.wm)
				if !slices.Equal(v.out, s.want) {
					t.Fatalf("step %d (%+v): head got watermarks %v, want %v", i, s, v.out, s.want)
				}
				if v.t.idle != s.idle {
					t.Fatalf("step %d (%+v): task idle = %v, want %v", i, s, v.t.idle, s.idle)
				}
				if v.whileIdle {
					t.Fatalf("step %d (%+v): a watermark reached the head while the task was idle", i, s)
				}
			}
		})
	}
}

// TestWatermarkValveAfterStop: after a stop barrier, neither ending nor
// idle channels move the watermark.
func TestWatermarkValveAfterStop(t *testing.T) {
	v := newValve(3)
	v.send(0, msgWatermark, 10)
	v.send(1, msgWatermark, 20)
	v.send(2, msgWatermark, 30)
	v.out = nil
	v.t.stopping = true
	v.send(0, msgEnd, 0)
	v.send(1, msgIdle, 0)
	v.send(2, msgIdle, 0)
	v.send(1, msgActive, 0)
	v.send(1, msgWatermark, 40)
	if len(v.out) != 0 || v.t.wm != 10 || v.t.idle {
		t.Fatalf("after a stop barrier: head got %v, watermark %d, idle %v; want nothing, 10, false", v.out, v.t.wm, v.t.idle)
	}
}

// TestBackPressurePlateau checks the exact number of records a source can
// get ahead of a sink that is stuck on its first record, with the source and
// the sink in two tasks: the batch the sink is delivering, channelCapacity
// buffered batches, and the full batch the source is blocked sending.
func TestBackPressurePlateau(t *testing.T) {
	const plateau = (1 + channelCapacity + 1) * batchSize
	var emitted, written, maxGap atomic.Int64
	reached := make(chan struct{})
	src := sourceNode("src", 100_000, func(n int) {
		emitted.Store(int64(n))
		if gap := int64(n) - written.Load(); gap > maxGap.Load() {
			maxGap.Store(gap) // only the source goroutine writes maxGap
		}
		if n == plateau {
			close(reached)
		}
	})
	release := make(chan struct{})
	var once sync.Once
	sink := sinkNode("sink", func(*Context, int) {
		once.Do(func() { <-release })
		written.Add(1)
	})
	sink.ChainingDisabled = true
	Connect(src, sink, 0, PartitionDefault, nil)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), graph(src, sink), Options{}) }()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatalf("source stopped at %d records, want %d", emitted.Load(), plateau)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if written.Load() != 100_000 {
		t.Fatalf("sink wrote %d records", written.Load())
	}
	// The source reached the plateau with nothing written, and never got
	// further ahead.
	if g := maxGap.Load(); g != plateau {
		t.Fatalf("the source got %d records ahead of the sink, want exactly %d", g, plateau)
	}
}

func TestRunReportsFirstError(t *testing.T) {
	boom := errors.New("boom")
	src := sourceNode("src", 1_000_000, nil)
	src.Parallelism = 3
	m := mapNode("exploding", func(v int) int {
		if v == 5000 {
			Fail(fmt.Errorf("at %d: %w", v, boom))
		}
		return v
	})
	m.Parallelism = 3
	Connect(src, m, 0, PartitionDefault, nil)
	sink := sinkNode("sink", func(*Context, int) {})
	Connect(m, sink, 0, PartitionRebalance, nil)
	err := Run(context.Background(), graph(src, m, sink), Options{Parallelism: 2})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	// The failing task is named with its chain and subtask; aborted tasks
	// report nothing.
	if !strings.Contains(err.Error(), "src -> exploding (subtask ") || strings.Contains(err.Error(), "aborted") {
		t.Fatalf("Run = %v", err)
	}
}

// fakeClock fires AfterFunc callbacks when advanced.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

func TestProcessingTimerQueue(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1000)}
	p := procTimers{clock: clock, wake: make(chan struct{}, 1)}
	var fired []string
	reg := func(at int64, name string) {
		p.register(at, func(now int64) { fired = append(fired, fmt.Sprintf("%s@%d", name, now)) })
	}
	reg(1300, "c")
	reg(1100, "a")
	reg(1200, "b1")
	reg(1200, "b2") // same time: registration order
	if n := clock.armed(); n != 1 {
		// Re-arming for an earlier timer stops the old callback.
		t.Fatalf("%d clock callbacks armed, want 1", n)
	}
	clock.advance(99 * time.Millisecond)
	select {
	case <-p.wake:
		t.Fatal("woken before the earliest timer")
	default:
	}
	clock.advance(time.Millisecond)
	<-p.wake
	p.fire(clock.Now().UnixMilli())
	clock.advance(150 * time.Millisecond) // 1250
	<-p.wake
	p.fire(clock.Now().UnixMilli())
	if want := []string{"a@1100", "b1@1250", "b2@1250"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	p.stop()
	if n := clock.armed(); n != 0 {
		t.Fatalf("%d callbacks armed after stop", n)
	}
}

// TestWatermarkReactivatesIdleTask: an idle task that emits a watermark
// tells its consumers it is active before sending the watermark; records
// do the same.
func TestWatermarkReactivatesIdleTask(t *testing.T) {
	tk := &task{job: &job{done: make(chan struct{})}}
	c := &channel{ch: make(chan message, 16), notify: make(chan struct{}, 1)}
	w := TypeOf[int]().newWriter(PartitionForward, nil, []*channel{c}, tk, TypeOf[int]().newPool())
	tk.writers = []writer{w}
	out := w.(Output[int])
	drain := func() []string {
		var got []string
		for {
			select {
			case m := <-c.ch:
				got = append(got, fmt.Sprint(m.kind, ":", m.wm))
			default:
				return got
			}
		}
	}
	tk.setIdle(true)
	out.Watermark(7)
	if got, want := drain(), []string{fmt.Sprint(msgIdle, ":0"), fmt.Sprint(msgActive, ":0"), fmt.Sprint(msgWatermark, ":7")}; !slices.Equal(got, want) {
		t.Fatalf("messages %v, want %v", got, want)
	}
	tk.setIdle(true)
	one := 1
	out.Collect(8, &one)
	w.flush()
	if got := drain(); len(got) != 3 || got[1] != fmt.Sprint(msgActive, ":0") || got[2] != fmt.Sprint(msgRecords, ":0") {
		t.Fatalf("messages %v, want idle, active, records", got)
	}
	if tk.idle {
		t.Fatal("task still idle")
	}
}

func TestPanicError(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name  string
		value any
		msg   string
		is    error
	}{
		{"error value", fmt.Errorf("at 5000: %w", boom), "panic: at 5000: boom", boom},
		{"other value", "oops", "panic: oops", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := sourceNode("src", 10_000, nil)
			m := mapNode("panicky", func(v int) int {
				if v == 5000 {
					panic(c.value)
				}
				return v
			})
			Connect(src, m, 0, PartitionDefault, nil)
			sink := sinkNode("sink", func(*Context, int) {})
			Connect(m, sink, 0, PartitionDefault, nil)
			err := Run(context.Background(), graph(src, m, sink), Options{Logger: slog.New(slog.DiscardHandler)})
			var pe *PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("Run = %v, want a *PanicError", err)
			}
			if pe.Value != c.value || pe.Error() != c.msg {
				t.Errorf("PanicError{Value: %v} says %q, want value %v saying %q", pe.Value, pe.Error(), c.value, c.msg)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.is)
			}
			if c.is == nil && pe.Unwrap() != nil {
				t.Errorf("Unwrap of a non-error panic = %v", pe.Unwrap())
			}
			if !strings.Contains(string(pe.Stack), "TestPanicError") {
				t.Errorf("the stack does not show the panicking function:\n%s", pe.Stack)
			}
			if strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), "\n") {
				t.Errorf("the stack is in the message: %q", err)
			}
		})
	}
}

// closingSink is a sink whose Close counts calls and returns err.
func closingSink(name string, closes *atomic.Int32, err error) *Node {
	return &Node{Kind: "sink", Name: name, Make: func(*Context, any) (*Instance, error) {
		return &Instance{
			Inputs: [2]any{funcOutput{collect: func(int64, int) {}}},
			Close:  func() error { closes.Add(1); return err },
		}, nil
	}}
}

// TestCloseErrorsJoined: the errors of Close reach Run's caller, joined
// with the task's own error.
func TestCloseErrorsJoined(t *testing.T) {
	boom, closeErr := errors.New("boom"), errors.New("close failed")
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("task fails %v", fail), func(t *testing.T) {
			src := sourceNode("src", 100, nil)
			m := mapNode("map", func(v int) int {
				if fail && v == 50 {
					Fail(boom)
				}
				return v
			})
			Connect(src, m, 0, PartitionDefault, nil)
			var closes atomic.Int32
			sink := closingSink("sink", &closes, closeErr)
			Connect(m, sink, 0, PartitionDefault, nil)
			err := Run(context.Background(), graph(src, m, sink), Options{})
			if !errors.Is(err, closeErr) || errors.Is(err, boom) != fail {
				t.Fatalf("Run = %v, want the close error (and boom: %v)", err, fail)
			}
			if closes.Load() != 1 {
				t.Fatalf("sink closed %d times", closes.Load())
			}
		})
	}
}

// TestBuildFailureClosesWhatWasBuilt: when building a job fails after some
// operators were created, every one of them is closed.
func TestBuildFailureClosesWhatWasBuilt(t *testing.T) {
	cases := []struct {
		name string
		bad  func() *Node
		// with an input from the source
		connect bool
		want    string
	}{
		{"an input the operator does not have", func() *Node {
			return &Node{Kind: "sink", Name: "bad", Make: func(*Context, any) (*Instance, error) {
				return &Instance{}, nil
			}}
		}, true, `operator "bad" has no input 0`},
		{"neither inputs nor a source", func() *Node {
			return &Node{Kind: "sink", Name: "bad", Make: func(*Context, any) (*Instance, error) {
				return &Instance{}, nil
			}}
		}, false, `operator "bad" has neither inputs nor a source`},
		{"Make fails", func() *Node {
			return &Node{Kind: "sink", Name: "bad", Make: func(*Context, any) (*Instance, error) {
				return nil, errors.New("cannot make")
			}}
		}, true, "cannot make"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := sourceNode("src", 10, nil)
			var closes atomic.Int32
			closeErr := errors.New("close failed")
			sink := closingSink("sink", &closes, closeErr)
			sink.ChainingDisabled = true
			Connect(src, sink, 0, PartitionDefault, nil)
			bad := c.bad()
			bad.ChainingDisabled = true
			if c.connect {
				Connect(src, bad, 0, PartitionDefault, nil)
			}
			// The sink's tasks are built before bad's.
			_, err := Start(context.Background(), graph(src, sink, bad), Options{Parallelism: 2})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Start = %v, want an error saying %q", err, c.want)
			}
			if !errors.Is(err, closeErr) {
				t.Errorf("Start = %v, want the close errors joined", err)
			}
			if n := closes.Load(); n != 2 {
				t.Fatalf("the sink's 2 subtasks were closed %d times, want 2", n)
			}
		})
	}
}
