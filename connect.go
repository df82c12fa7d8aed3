package weir

import (
	"fmt"

	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/state"
)

// ConnectedStreams are two streams of possibly different types processed by
// one operator that sees both.
type ConnectedStreams[A, B any] struct {
	a Stream[A]
	b Stream[B]
}

// Connect joins two streams into one two-input operator.
func Connect[A, B any](a Stream[A], b Stream[B]) ConnectedStreams[A, B] {
	b.check(a.env)
	return ConnectedStreams[A, B]{a: a, b: b}
}

// OperatorContext is what a non-keyed function sees while it processes a
// record. It is a state.OperatorStore: functions obtain operator list state
// from it in their Open method (a list first registered later is refused;
// see package state).
type OperatorContext struct {
	ctx *engine.Context
	ops *opstate.Backend
	ts  int64
	wm  int64
}

// OperatorBackend implements state.OperatorStore.
func (c *OperatorContext) OperatorBackend() *opstate.Backend { return c.ops }

// Timestamp returns the event timestamp of the record being processed.
func (c *OperatorContext) Timestamp() int64 { return c.ts }

// CurrentWatermark returns the operator's current watermark.
func (c *OperatorContext) CurrentWatermark() int64 { return c.wm }

// CurrentProcessingTime returns processing time in epoch milliseconds.
func (c *OperatorContext) CurrentProcessingTime() int64 { return c.ctx.Now() }

// Subtask returns the index of the subtask running the function.
func (c *OperatorContext) Subtask() int { return c.ctx.Subtask() }

// Opener is implemented by non-keyed functions that set up operator state
// before the first record.
type Opener interface {
	Open(ctx *OperatorContext) error
}

var _ state.OperatorStore = (*OperatorContext)(nil)

// CoProcessFunction processes the records of two connected streams. It may
// also implement Opener.
type CoProcessFunction[A, B, O any] interface {
	ProcessElement1(ctx *OperatorContext, a A, out Collector[O]) error
	ProcessElement2(ctx *OperatorContext, b B, out Collector[O]) error
}

// CoProcess applies fn to connected streams. Each input is forwarded when
// its parallelism matches the operator's and rebalanced otherwise.
func CoProcess[A, B, O any](c ConnectedStreams[A, B], fn CoProcessFunction[A, B, O]) Stream[O] {
	env := c.a.env
	n := env.addNode("co-process", "CoProcess", engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		op := &coProcessOp[A, B, O]{fn: cloneFn(fn), col: tsCollector[O]{out: out.(engine.Output[O])}, name: ctx.Node().Name}
		op.c = OperatorContext{ctx: ctx, ops: ctx.OperatorState(), wm: engine.MinWatermark}
		if o, ok := op.fn.(Opener); ok {
			if err := o.Open(&op.c); err != nil {
				return nil, fmt.Errorf("open: %w", err)
			}
		}
		return &engine.Instance{Inputs: [2]any{op, (*coProcessRight[A, B, O])(op)}, Operator: op.c.ops}, nil
	})
	c.a.connect(n, 0, engine.PartitionDefault, nil)
	c.b.connect(n, 1, engine.PartitionDefault, nil)
	return newStream[O](env, n)
}

type coProcessOp[A, B, O any] struct {
	fn   CoProcessFunction[A, B, O]
	c    OperatorContext
	col  tsCollector[O]
	name string
}

func (o *coProcessOp[A, B, O]) Collect(ts int64, a *A) {
	o.c.ts, o.col.ts = ts, ts
	if err := o.fn.ProcessElement1(&o.c, *a, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

func (o *coProcessOp[A, B, O]) Watermark(wm int64) {
	o.c.wm = wm
	o.col.out.Watermark(wm)
}

type coProcessRight[A, B, O any] coProcessOp[A, B, O]

func (r *coProcessRight[A, B, O]) Collect(ts int64, b *B) {
	o := (*coProcessOp[A, B, O])(r)
	o.c.ts, o.col.ts = ts, ts
	if err := o.fn.ProcessElement2(&o.c, *b, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

func (r *coProcessRight[A, B, O]) Watermark(int64) {}

// ConnectedKeyedStreams are two keyed streams with the same key type whose
// records of one key meet in one subtask, with shared keyed state.
type ConnectedKeyedStreams[K comparable, A, B any] struct {
	a KeyedStream[K, A]
	b KeyedStream[K, B]
}

// ConnectKeyed connects two keyed streams.
func ConnectKeyed[K comparable, A, B any](a KeyedStream[K, A], b KeyedStream[K, B]) ConnectedKeyedStreams[K, A, B] {
	b.s.check(a.s.env)
	return ConnectedKeyedStreams[K, A, B]{a: a, b: b}
}

// KeyedCoProcessFunction processes two keyed streams with keyed state and
// timers. It may also implement KeyedOpener and KeyedTimerHandler.
type KeyedCoProcessFunction[K comparable, A, B, O any] interface {
	ProcessElement1(ctx *KeyedContext[K], a A, out Collector[O]) error
	ProcessElement2(ctx *KeyedContext[K], b B, out Collector[O]) error
}

// KeyedCoProcess applies fn to connected keyed streams; see Process for how
// fn is copied per subtask.
func KeyedCoProcess[K comparable, A, B, O any](c ConnectedKeyedStreams[K, A, B], fn KeyedCoProcessFunction[K, A, B, O]) Stream[O] {
	env := c.a.s.env
	n := env.addNode("co-process-keyed", "KeyedCoProcess", engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		f := cloneFn(fn)
		op := &keyedCoOp[K, A, B, O]{fn: f, keyA: c.a.key, keyB: c.b.key, col: tsCollector[O]{out: out.(engine.Output[O])}, name: ctx.Node().Name}
		var err error
		if op.core, err = newKeyedCore(ctx, c.a.keySer, c.a.kh); err != nil {
			return nil, err
		}
		op.kctx.core = op.core
		th, _ := f.(KeyedTimerHandler[K, O])
		op.core.onTimer = func(t timer.Timer[K, void], d TimeDomain) {
			if th == nil {
				return
			}
			op.kctx.ts, op.kctx.domain, op.col.ts = t.TS, d, t.TS
			if err := th.OnTimer(&op.kctx, t.TS, &op.col); err != nil {
				engine.Fail(fmt.Errorf("%s: OnTimer: %w", op.name, err))
			}
		}
		if o, ok := f.(KeyedOpener[K]); ok {
			if err := o.Open(&op.kctx); err != nil {
				return nil, fmt.Errorf("open: %w", err)
			}
		}
		return &engine.Instance{Inputs: [2]any{op, (*keyedCoRight[K, A, B, O])(op)}, Finish: op.core.finishProc, Keyed: op.core.b}, nil
	})
	c.a.connect(n, 0)
	c.b.connect(n, 1)
	return newStream[O](env, n)
}

type keyedCoOp[K comparable, A, B, O any] struct {
	core *keyedCore[K]
	kctx KeyedContext[K]
	fn   KeyedCoProcessFunction[K, A, B, O]
	keyA func(A) K
	keyB func(B) K
	col  tsCollector[O]
	name string
}

func (o *keyedCoOp[K, A, B, O]) Collect(ts int64, a *A) {
	o.core.b.SetCurrentKey(o.keyA(*a))
	o.kctx.ts, o.col.ts = ts, ts
	if err := o.fn.ProcessElement1(&o.kctx, *a, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

func (o *keyedCoOp[K, A, B, O]) Watermark(wm int64) {
	o.core.advance(wm)
	o.col.out.Watermark(wm)
}

type keyedCoRight[K comparable, A, B, O any] keyedCoOp[K, A, B, O]

func (r *keyedCoRight[K, A, B, O]) Collect(ts int64, b *B) {
	o := (*keyedCoOp[K, A, B, O])(r)
	o.core.b.SetCurrentKey(o.keyB(*b))
	o.kctx.ts, o.col.ts = ts, ts
	if err := o.fn.ProcessElement2(&o.kctx, *b, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

func (r *keyedCoRight[K, A, B, O]) Watermark(int64) {}
