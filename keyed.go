package weir

import (
	"fmt"
	"math"
	"reflect"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/state"
)

// KeyedStream is a stream partitioned by key: every record of a key goes to
// the same subtask, which owns that key's state and timers. The subtask is
// chosen by a stable hash of the key's canonical encoding.
type KeyedStream[K comparable, T any] struct {
	s      Stream[T]
	key    func(T) K
	hash   func(T) uint64
	keySer serde.Serializer[K]
	kh     func(K) uint64
}

// KeyBy partitions s by the key that key extracts. K must be serializable
// by serde (basic types, and structs of them).
func KeyBy[T any, K comparable](s Stream[T], key func(T) K) KeyedStream[K, T] {
	env := s.mustEnv()
	kh, err := keyspace.HasherFor[K]()
	if err != nil {
		env.errs = append(env.errs, fmt.Errorf("weir: KeyBy: %w", err))
		kh = func(K) uint64 { return 0 }
	}
	ks, err := serde.Lookup[K]()
	if err != nil && kh != nil {
		env.errs = append(env.errs, fmt.Errorf("weir: KeyBy: key type: %w", err))
	}
	return KeyedStream[K, T]{s: s, key: key, hash: func(v T) uint64 { return kh(key(v)) }, keySer: ks, kh: kh}
}

// Stream returns the records of the keyed stream as a plain stream.
func (k KeyedStream[K, T]) Stream() Stream[T] { return k.s }

func (k KeyedStream[K, T]) connect(to *engine.Node, input int) {
	k.s.connect(to, input, engine.PartitionHash, k.hash)
}

// TimeDomain says whether a timer fired in event or processing time.
type TimeDomain uint8

// Time domains.
const (
	EventTime TimeDomain = iota
	ProcessingTime
)

// KeyedContext is what a keyed function sees while it processes a record or
// a timer: the current key, the record's timestamp, the timer service, and
// keyed state (it is a state.Store). It is valid only during the call.
type KeyedContext[K comparable] struct {
	core   *keyedCore[K]
	ts     int64
	domain TimeDomain
}

// CurrentKey returns the key of the record or timer being processed.
func (c *KeyedContext[K]) CurrentKey() K { return c.core.b.CurrentKey() }

// KeyedBackend implements state.Store.
func (c *KeyedContext[K]) KeyedBackend() backend.Keyed { return c.core.b }

// Timestamp returns the event timestamp of the record being processed, or
// the time of the timer firing.
func (c *KeyedContext[K]) Timestamp() int64 { return c.ts }

// TimeDomain returns the domain of the timer firing (in OnTimer).
func (c *KeyedContext[K]) TimeDomain() TimeDomain { return c.domain }

// CurrentWatermark returns the operator's current event-time watermark.
func (c *KeyedContext[K]) CurrentWatermark() int64 { return c.core.wm }

// CurrentProcessingTime returns processing time in epoch milliseconds.
func (c *KeyedContext[K]) CurrentProcessingTime() int64 { return c.core.ctx.Now() }

// RegisterEventTimeTimer asks for OnTimer with the current key once the
// watermark reaches ts. Registering the same (key, ts) twice fires once.
func (c *KeyedContext[K]) RegisterEventTimeTimer(ts int64) {
	c.core.event.Add(timer.Timer[K, void]{TS: ts, Key: c.CurrentKey()})
}

// DeleteEventTimeTimer cancels an event-time timer of the current key.
func (c *KeyedContext[K]) DeleteEventTimeTimer(ts int64) {
	c.core.event.Delete(timer.Timer[K, void]{TS: ts, Key: c.CurrentKey()})
}

// RegisterProcessingTimeTimer asks for OnTimer with the current key once
// processing time reaches ts.
func (c *KeyedContext[K]) RegisterProcessingTimeTimer(ts int64) {
	c.core.registerProc(timer.Timer[K, void]{TS: ts, Key: c.CurrentKey()})
}

// DeleteProcessingTimeTimer cancels a processing-time timer of the current
// key.
func (c *KeyedContext[K]) DeleteProcessingTimeTimer(ts int64) {
	c.core.proc.Delete(timer.Timer[K, void]{TS: ts, Key: c.CurrentKey()})
}

// Subtask returns the index of the subtask running the function.
func (c *KeyedContext[K]) Subtask() int { return c.core.ctx.Subtask() }

var _ state.Store[int] = (*KeyedContext[int])(nil)

type void = struct{}

// keyedCore is the state backend and timer service of one keyed operator
// subtask, shared by process functions, rolling aggregations and joins.
type keyedCore[K comparable] struct {
	ctx   *engine.Context
	b     *hashmap.Backend[K]
	event *timer.Queue[K, void]
	proc  *timer.Queue[K, void]
	wm    int64
	arm   procArm
	// procEnded is set once the input has ended, and with it processing
	// time.
	procEnded bool
	// onTimer handles a due timer; the current key is already set.
	onTimer func(t timer.Timer[K, void], d TimeDomain)
}

func newKeyedCore[K comparable](ctx *engine.Context, ks serde.Serializer[K], kh func(K) uint64) (*keyedCore[K], error) {
	c := &keyedCore[K]{
		ctx:   ctx,
		b:     hashmap.New(ks, kh, ctx.Now),
		event: timer.NewQueue[K, void](),
		proc:  timer.NewQueue[K, void](),
		wm:    engine.MinWatermark,
		arm:   procArm{ctx: ctx},
	}
	if _, err := hashmap.NewTimers(c.b, "timers/event", c.event, serde.Of[void]()); err != nil {
		return nil, err
	}
	if _, err := hashmap.NewTimers(c.b, "timers/processing", c.proc, serde.Of[void]()); err != nil {
		return nil, err
	}
	return c, nil
}

// advance fires the event-time timers up to wm. The final watermark ends
// processing time too (see finishProc): those timers fire before it, so that
// what they emit reaches downstream operators ahead of the final watermark
// rather than late.
func (c *keyedCore[K]) advance(wm int64) {
	c.wm = wm
	c.fireEvent(wm)
	if wm == engine.MaxWatermark {
		c.finishProc()
		c.fireEvent(wm) // timers registered by the processing-time ones
	}
}

func (c *keyedCore[K]) fireEvent(wm int64) {
	for {
		t, ok := c.event.PopDue(wm)
		if !ok {
			return
		}
		c.b.SetCurrentKey(t.Key)
		c.onTimer(t, EventTime)
	}
}

func (c *keyedCore[K]) registerProc(t timer.Timer[K, void]) {
	if c.procEnded {
		return // processing time has ended; the timer can never fire
	}
	if c.proc.Add(t) {
		c.arm.request(t.TS, c.fireProc)
	}
}

func (c *keyedCore[K]) fireProc(now int64) {
	for {
		t, ok := c.proc.PopDue(now)
		if !ok {
			break
		}
		c.b.SetCurrentKey(t.Key)
		c.onTimer(t, ProcessingTime)
	}
	if t, ok := c.proc.Peek(); ok {
		c.arm.request(t.TS, c.fireProc)
	}
}

// finishProc fires every remaining processing-time timer; weir treats the
// end of a bounded input as the end of processing time too. Timers
// registered from then on are dropped: otherwise a timer that re-registers
// itself, the usual way to do something periodically, would fire forever.
func (c *keyedCore[K]) finishProc() {
	c.procEnded = true
	c.fireProc(math.MaxInt64)
}

// procArm keeps exactly one engine callback armed for the earliest
// processing-time timer of an operator.
type procArm struct {
	ctx   *engine.Context
	gen   uint64
	armed int64
	live  bool
}

func (a *procArm) request(at int64, fire func(now int64)) {
	if a.live && a.armed <= at {
		return
	}
	a.gen++
	gen := a.gen
	a.armed, a.live = at, true
	a.ctx.RegisterProcessingTimer(at, func(now int64) {
		if gen != a.gen {
			return // superseded by an earlier request
		}
		a.live = false
		fire(now)
	})
}

// KeyedProcessFunction processes the records of a keyed stream one at a
// time, with keyed state and timers. It may also implement KeyedOpener and
// KeyedTimerHandler.
type KeyedProcessFunction[K comparable, I, O any] interface {
	ProcessElement(ctx *KeyedContext[K], v I, out Collector[O]) error
}

// KeyedOpener is implemented by keyed functions that set up state before the
// first record.
type KeyedOpener[K comparable] interface {
	Open(ctx *KeyedContext[K]) error
}

// KeyedTimerHandler is implemented by keyed functions that register timers.
type KeyedTimerHandler[K comparable, O any] interface {
	OnTimer(ctx *KeyedContext[K], ts int64, out Collector[O]) error
}

// ProcessFunc adapts a plain function to KeyedProcessFunction. It has no
// Open method, so it cannot declare keyed state (state must be registered
// in Open); write a type with Open for a stateful function.
type ProcessFunc[K comparable, I, O any] func(ctx *KeyedContext[K], v I, out Collector[O]) error

// ProcessElement calls f.
func (f ProcessFunc[K, I, O]) ProcessElement(ctx *KeyedContext[K], v I, out Collector[O]) error {
	return f(ctx, v, out)
}

// Process applies a keyed process function to a keyed stream.
//
// Like Flink, every subtask works on its own instance of fn: fn's Clone
// method if it implements Cloner, otherwise a shallow copy when fn is a
// pointer to a struct (so state handles stored in fields by Open are per
// subtask), otherwise fn itself.
func Process[K comparable, I, O any](ks KeyedStream[K, I], fn KeyedProcessFunction[K, I, O]) Stream[O] {
	n := ks.s.env.addNode("process", "KeyedProcess", engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		f := cloneFn(fn)
		op := &processOp[K, I, O]{fn: f, key: ks.key, col: tsCollector[O]{out: out.(engine.Output[O])}}
		var err error
		if op.core, err = newKeyedCore(ctx, ks.keySer, ks.kh); err != nil {
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
				engine.Fail(fmt.Errorf("%s: OnTimer: %w", ctx.Node().Name, err))
			}
		}
		if o, ok := f.(KeyedOpener[K]); ok {
			if err := o.Open(&op.kctx); err != nil {
				return nil, fmt.Errorf("open: %w", err)
			}
		}
		op.name = ctx.Node().Name
		return &engine.Instance{Inputs: [2]any{op}, Finish: op.core.finishProc, Keyed: op.core.b}, nil
	})
	ks.connect(n, 0)
	return newStream[O](ks.s.env, n)
}

// Cloner is implemented by functions that hold per-subtask fields (such as
// state handles): each subtask calls Clone to get its own instance.
type Cloner[F any] interface {
	Clone() F
}

func cloneFn[F any](f F) F {
	if c, ok := any(f).(Cloner[F]); ok {
		return c.Clone()
	}
	v := reflect.ValueOf(f)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		c := reflect.New(v.Elem().Type())
		c.Elem().Set(v.Elem())
		if cf, ok := c.Interface().(F); ok {
			return cf
		}
	}
	return f
}

type processOp[K comparable, I, O any] struct {
	core *keyedCore[K]
	kctx KeyedContext[K]
	fn   KeyedProcessFunction[K, I, O]
	key  func(I) K
	col  tsCollector[O]
	name string
	_    engine.CacheLinePad
}

func (o *processOp[K, I, O]) Collect(ts int64, v *I) {
	o.core.b.SetCurrentKey(o.key(*v))
	o.kctx.ts, o.col.ts = ts, ts
	if err := o.fn.ProcessElement(&o.kctx, *v, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

func (o *processOp[K, I, O]) Watermark(wm int64) {
	o.core.advance(wm)
	o.col.out.Watermark(wm)
}

// Reduce emits, for every record, the running reduction of its key's records
// so far: reduce(reduce(v1, v2), v3), ...
func (ks KeyedStream[K, T]) Reduce(reduce func(a, b T) T) Stream[T] {
	return rolling(ks, "reduce", "Reduce", func(acc T, ok bool, v T) T {
		if !ok {
			return v
		}
		return reduce(acc, v)
	}, func(acc T) T { return acc })
}

// Aggregate emits, for every record, the aggregate of its key's records so
// far.
func Aggregate[K comparable, T, ACC, O any](ks KeyedStream[K, T], agg AggregateFunction[T, ACC, O]) Stream[O] {
	return rolling(ks, "aggregate", "Aggregate", func(acc ACC, ok bool, v T) ACC {
		if !ok {
			acc = agg.CreateAccumulator()
		}
		return agg.Add(v, acc)
	}, agg.Result)
}

// AggregateFunction folds records into an accumulator; see
// state.AggregateFunction.
type AggregateFunction[IN, ACC, OUT any] = state.AggregateFunction[IN, ACC, OUT]

func rolling[K comparable, T, ACC, O any](ks KeyedStream[K, T], kind, name string, add func(ACC, bool, T) ACC, result func(ACC) O) Stream[O] {
	accSer, err := serde.Lookup[ACC]()
	if err != nil {
		ks.s.env.errf("weir: %s: %w", name, err)
	}
	n := ks.s.env.addNode(kind, name, engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		core, err := newKeyedCore(ctx, ks.keySer, ks.kh)
		if err != nil {
			return nil, err
		}
		t, err := hashmap.NewValue[K, void](core.b, kind, backend.KindValue, serde.Of[void](), accSer, hashmap.TTL{})
		if err != nil {
			return nil, err
		}
		op := &rollingOp[K, T, ACC, O]{core: core, t: t, key: ks.key, add: add, result: result, out: out.(engine.Output[O])}
		return &engine.Instance{Inputs: [2]any{op}, Keyed: core.b}, nil
	})
	ks.connect(n, 0)
	return newStream[O](ks.s.env, n)
}

type rollingOp[K comparable, T, ACC, O any] struct {
	core   *keyedCore[K]
	t      *hashmap.Value[K, void, ACC]
	key    func(T) K
	add    func(ACC, bool, T) ACC
	result func(ACC) O
	out    engine.Output[O]
	r      O
	_      engine.CacheLinePad
}

func (o *rollingOp[K, T, ACC, O]) Collect(ts int64, v *T) {
	o.core.b.SetCurrentKey(o.key(*v))
	acc, isNew := o.t.Slot()
	*acc = o.add(*acc, !isNew, *v)
	o.r = o.result(*acc)
	o.out.Collect(ts, &o.r)
}

func (o *rollingOp[K, T, ACC, O]) Watermark(wm int64) { o.out.Watermark(wm) }
