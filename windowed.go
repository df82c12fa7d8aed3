package weir

import (
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/window"
)

// WindowedStream is a keyed stream cut into windows.
type WindowedStream[K comparable, T any] struct {
	ks       KeyedStream[K, T]
	assigner window.Assigner
	lateness int64
}

// Window groups the keyed stream's records into windows.
func (ks KeyedStream[K, T]) Window(a window.Assigner) WindowedStream[K, T] {
	if err := a.Validate(); err != nil {
		ks.s.env.errs = append(ks.s.env.errs, err)
	}
	return WindowedStream[K, T]{ks: ks, assigner: a}
}

// AllowedLateness keeps each event-time window's state for d after the
// window fired; a record arriving in that time fires the window again with
// the record included. Records later than that are dropped.
func (ws WindowedStream[K, T]) AllowedLateness(d time.Duration) WindowedStream[K, T] {
	if d < 0 {
		ws.ks.s.env.errf("weir: negative allowed lateness %v", d)
		return ws
	}
	ws.lateness = d.Milliseconds()
	return ws
}

// WindowFunc computes a window's results from its contents.
type WindowFunc[K comparable, IN, OUT any] func(key K, w window.TimeWindow, in iter.Seq[IN], out Collector[OUT]) error

// Reduce reduces each window's records to one with reduce, incrementally.
func (ws WindowedStream[K, T]) Reduce(reduce func(a, b T) T) Stream[T] {
	return windowAgg(ws, "WindowReduce", func(acc T, ok bool, v T) T {
		if !ok {
			return v
		}
		return reduce(acc, v)
	}, reduce, func(_ K, _ window.TimeWindow, acc T, out Collector[T]) error {
		out.Collect(acc)
		return nil
	})
}

// WindowAggregate aggregates each window's records incrementally and emits
// the result when the window fires.
func WindowAggregate[K comparable, T, ACC, O any](ws WindowedStream[K, T], agg AggregateFunction[T, ACC, O]) Stream[O] {
	return windowAgg(ws, "WindowAggregate", aggAdd(agg), agg.Merge, func(_ K, _ window.TimeWindow, acc ACC, out Collector[O]) error {
		out.Collect(agg.Result(acc))
		return nil
	})
}

// AggregateWindowFunc turns the aggregate of a window into results.
type AggregateWindowFunc[K comparable, R, OUT any] func(key K, w window.TimeWindow, result R, out Collector[OUT]) error

// WindowAggregateProcess aggregates incrementally and hands the result, with
// the key and window, to fn when the window fires (Flink's aggregate with a
// ProcessWindowFunction, whose iterable always holds exactly this one
// result).
func WindowAggregateProcess[K comparable, T, ACC, R, O any](ws WindowedStream[K, T], agg AggregateFunction[T, ACC, R], fn AggregateWindowFunc[K, R, O]) Stream[O] {
	return windowAgg(ws, "WindowAggregate", aggAdd(agg), agg.Merge, func(k K, w window.TimeWindow, acc ACC, out Collector[O]) error {
		return fn(k, w, agg.Result(acc), out)
	})
}

// WindowProcess buffers each window's records and hands them to fn when the
// window fires.
func WindowProcess[K comparable, T, O any](ws WindowedStream[K, T], fn WindowFunc[K, T, O]) Stream[O] {
	valSer, err := serde.Lookup[T]()
	if err != nil {
		ws.ks.s.env.errf("weir: WindowProcess: %w", err)
	}
	return windowNode[K, T, O](ws, "WindowProcess", func(b *hashmap.Backend[K], col *tsCollector[O], name string) (contents[K, T], error) {
		t, err := hashmap.NewList[K, window.TimeWindow](b, "window-contents", serde.Of[window.TimeWindow](), valSer, hashmap.TTL{})
		if err != nil {
			return nil, err
		}
		return &listContents[K, T, O]{t: t, fn: fn, col: col, name: name}, nil
	})
}

func aggAdd[T, ACC, O any](agg AggregateFunction[T, ACC, O]) func(ACC, bool, T) ACC {
	return func(acc ACC, ok bool, v T) ACC {
		if !ok {
			acc = agg.CreateAccumulator()
		}
		return agg.Add(v, acc)
	}
}

func windowAgg[K comparable, T, ACC, O any](ws WindowedStream[K, T], name string, add func(ACC, bool, T) ACC, merge func(a, b ACC) ACC, emit func(K, window.TimeWindow, ACC, Collector[O]) error) Stream[O] {
	accSer, err := serde.Lookup[ACC]()
	if err != nil {
		ws.ks.s.env.errf("weir: %s: %w", name, err)
	}
	return windowNode[K, T, O](ws, name, func(b *hashmap.Backend[K], col *tsCollector[O], opName string) (contents[K, T], error) {
		t, err := hashmap.NewValue[K, window.TimeWindow](b, "window-contents", backend.KindAggregating, serde.Of[window.TimeWindow](), accSer, hashmap.TTL{})
		if err != nil {
			return nil, err
		}
		return &aggContents[K, T, ACC, O]{t: t, addFn: add, mergeFn: merge, emit: emit, col: col, name: opName}, nil
	})
}

// contents stores what a window operator keeps per (key, window).
type contents[K comparable, T any] interface {
	setWindow(w window.TimeWindow)
	// add adds v to the current window; it reports whether the window had
	// no contents before.
	add(v T) (isNew bool)
	// merge folds the contents of windows from into target and clears them.
	merge(target window.TimeWindow, from []window.TimeWindow)
	// fire emits the results of the current window's contents as window w.
	fire(key K, w window.TimeWindow)
	clear()
}

type aggContents[K comparable, T, ACC, O any] struct {
	t       *hashmap.Value[K, window.TimeWindow, ACC]
	addFn   func(ACC, bool, T) ACC
	mergeFn func(a, b ACC) ACC
	emit    func(K, window.TimeWindow, ACC, Collector[O]) error
	col     *tsCollector[O]
	name    string
}

func (c *aggContents[K, T, ACC, O]) setWindow(w window.TimeWindow) { c.t.SetNamespace(w) }

func (c *aggContents[K, T, ACC, O]) add(v T) bool {
	acc, isNew := c.t.Slot()
	*acc = c.addFn(*acc, !isNew, v)
	return isNew
}

func (c *aggContents[K, T, ACC, O]) merge(target window.TimeWindow, from []window.TimeWindow) {
	c.t.SetNamespace(target)
	acc, ok := c.t.Get()
	for _, w := range from {
		c.t.SetNamespace(w)
		other, ok2 := c.t.Get()
		if !ok2 {
			continue
		}
		c.t.Clear()
		if ok {
			acc = c.mergeFn(acc, other)
		} else {
			acc, ok = other, true
		}
	}
	c.t.SetNamespace(target)
	if ok {
		c.t.Put(acc)
	}
}

func (c *aggContents[K, T, ACC, O]) fire(key K, w window.TimeWindow) {
	acc, ok := c.t.Get()
	if !ok {
		return
	}
	if err := c.emit(key, w, acc, c.col); err != nil {
		engine.Fail(fmt.Errorf("%s: window %v: %w", c.name, w, err))
	}
}

func (c *aggContents[K, T, ACC, O]) clear() { c.t.Clear() }

type listContents[K comparable, T, O any] struct {
	t    *hashmap.List[K, window.TimeWindow, T]
	fn   WindowFunc[K, T, O]
	col  *tsCollector[O]
	name string
}

func (c *listContents[K, T, O]) setWindow(w window.TimeWindow) { c.t.SetNamespace(w) }
func (c *listContents[K, T, O]) add(v T) bool {
	isNew := c.t.Empty()
	c.t.Add(v)
	return isNew
}
func (c *listContents[K, T, O]) clear() { c.t.Clear() }

func (c *listContents[K, T, O]) merge(target window.TimeWindow, from []window.TimeWindow) {
	var all []T
	c.t.SetNamespace(target)
	for v := range c.t.All() {
		all = append(all, v)
	}
	for _, w := range from {
		c.t.SetNamespace(w)
		for v := range c.t.All() {
			all = append(all, v)
		}
		c.t.Clear()
	}
	c.t.SetNamespace(target)
	c.t.Update(all)
}

func (c *listContents[K, T, O]) fire(key K, w window.TimeWindow) {
	if c.t.Empty() {
		return
	}
	if err := c.fn(key, w, c.t.All(), c.col); err != nil {
		engine.Fail(fmt.Errorf("%s: window %v: %w", c.name, w, err))
	}
}

// sessionPair maps a merged window to the window under which its contents
// are stored; the storage window stays put while sessions merge.
type sessionPair struct {
	Window, State window.TimeWindow
}

func windowNode[K comparable, T, O any](ws WindowedStream[K, T], name string, mk func(*hashmap.Backend[K], *tsCollector[O], string) (contents[K, T], error)) Stream[O] {
	ks := ws.ks
	n := ks.s.env.addNode("window", name, engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		op := &windowOp[K, T, O]{
			ctx: ctx, key: ks.key, a: ws.assigner, lateness: ws.lateness,
			b:     hashmap.New(ks.keySer, ks.kh, ctx.Now),
			event: timer.NewQueue[K, window.TimeWindow](),
			proc:  timer.NewQueue[K, window.TimeWindow](),
			wm:    engine.MinWatermark,
			arm:   procArm{ctx: ctx},
			col:   &tsCollector[O]{out: out.(engine.Output[O])},
			name:  ctx.Node().Name,
		}
		var err error
		if op.c, err = mk(op.b, op.col, op.name); err != nil {
			return nil, err
		}
		if _, err := hashmap.NewTimers(op.b, "timers/event", op.event, serde.Of[window.TimeWindow]()); err != nil {
			return nil, err
		}
		if _, err := hashmap.NewTimers(op.b, "timers/processing", op.proc, serde.Of[window.TimeWindow]()); err != nil {
			return nil, err
		}
		if ws.assigner.IsMerging() {
			op.sessions, err = hashmap.NewValue[K, void](op.b, "window-sessions", backend.KindValue, serde.Of[void](), serde.Of[[]sessionPair](), hashmap.TTL{})
			if err != nil {
				return nil, err
			}
		}
		return &engine.Instance{Inputs: [2]any{op}, Finish: op.finish, Keyed: op.b}, nil
	})
	ks.connect(n, 0)
	return newStream[O](ks.s.env, n)
}

// windowOp is the window operator with Flink's default triggers: an
// event-time window fires when the watermark passes its end (and again for
// every allowed-late record), a processing-time window when the clock does.
type windowOp[K comparable, T, O any] struct {
	ctx      *engine.Context
	b        *hashmap.Backend[K]
	key      func(T) K
	a        window.Assigner
	lateness int64
	c        contents[K, T]
	sessions *hashmap.Value[K, void, []sessionPair]
	event    *timer.Queue[K, window.TimeWindow]
	proc     *timer.Queue[K, window.TimeWindow]
	wm       int64
	arm      procArm
	col      *tsCollector[O]
	buf      []window.TimeWindow
	dropped  int64
	name     string
	_        engine.CacheLinePad
}

func (o *windowOp[K, T, O]) cleanupTime(w window.TimeWindow) int64 {
	if !o.a.IsEventTime() {
		return w.MaxTimestamp()
	}
	if t := w.MaxTimestamp() + o.lateness; t >= w.MaxTimestamp() {
		return t
	}
	return math.MaxInt64
}

func (o *windowOp[K, T, O]) isLate(w window.TimeWindow) bool {
	return o.a.IsEventTime() && o.cleanupTime(w) <= o.wm
}

func (o *windowOp[K, T, O]) Collect(ts int64, p *T) {
	v := *p
	k := o.key(v)
	o.b.SetCurrentKey(k)
	t := ts
	if !o.a.IsEventTime() {
		t = o.ctx.Now()
	} else if ts == engine.NoTimestamp {
		engine.Fail(fmt.Errorf("%s: record %v has no event timestamp; event-time windows need one: give the source a timestamp assigner (WatermarkStrategy.WithTimestampAssigner) or use a processing-time window", o.name, v))
	}
	if o.sessions != nil {
		o.collectMerging(k, t, v)
		return
	}
	o.buf = o.a.Assign(o.buf[:0], t)
	late := true
	for _, w := range o.buf {
		if o.isLate(w) {
			continue
		}
		late = false
		o.c.setWindow(w)
		switch {
		case o.c.add(v):
			o.onElement(k, w)
		case o.a.IsEventTime() && w.MaxTimestamp() <= o.wm:
			// An existing window's timers are registered; a late record
			// within the allowed lateness fires it again.
			o.col.ts = w.MaxTimestamp()
			o.c.fire(k, w)
		}
	}
	if late {
		o.dropped++
	}
}

// onElement runs the default trigger for window w after a record was added;
// the contents' namespace is w's storage window.
func (o *windowOp[K, T, O]) onElement(k K, w window.TimeWindow) {
	if !o.a.IsEventTime() {
		if o.proc.Add(timer.Timer[K, window.TimeWindow]{TS: w.MaxTimestamp(), Key: k, NS: w}) {
			o.arm.request(w.MaxTimestamp(), o.fireProc)
		}
		return
	}
	if w.MaxTimestamp() <= o.wm {
		// Late but within the allowed lateness: fire again right away.
		o.col.ts = w.MaxTimestamp()
		o.c.fire(k, w)
	} else {
		o.event.Add(timer.Timer[K, window.TimeWindow]{TS: w.MaxTimestamp(), Key: k, NS: w})
	}
	if ct := o.cleanupTime(w); ct != w.MaxTimestamp() {
		o.event.Add(timer.Timer[K, window.TimeWindow]{TS: ct, Key: k, NS: w})
	}
}

func (o *windowOp[K, T, O]) deleteTimers(k K, w window.TimeWindow) {
	q := o.proc
	if o.a.IsEventTime() {
		q = o.event
	}
	q.Delete(timer.Timer[K, window.TimeWindow]{TS: w.MaxTimestamp(), Key: k, NS: w})
	q.Delete(timer.Timer[K, window.TimeWindow]{TS: o.cleanupTime(w), Key: k, NS: w})
}

// collectMerging adds a record to the key's sessions, merging every session
// its new window touches.
func (o *windowOp[K, T, O]) collectMerging(k K, t int64, v T) {
	o.buf = o.a.Assign(o.buf[:0], t)
	w := o.buf[0]
	pairs, _ := o.sessions.Get()
	actual, first, hits := w, -1, 0
	for i, p := range pairs {
		if p.Window.Intersects(w) {
			actual = actual.Cover(p.Window)
			if first < 0 {
				first = i
			}
			hits++
		}
	}
	var stateW window.TimeWindow
	if hits == 0 {
		if o.isLate(w) {
			o.dropped++
			return
		}
		stateW = w
		pairs = append(pairs, sessionPair{Window: w, State: w})
	} else {
		stateW = pairs[first].State
		var from []window.TimeWindow
		kept := pairs[:0]
		for i, p := range pairs {
			if !p.Window.Intersects(w) {
				kept = append(kept, p)
				continue
			}
			o.deleteTimers(k, p.Window)
			if i != first {
				from = append(from, p.State)
			}
		}
		if len(from) > 0 {
			o.c.merge(stateW, from)
		}
		pairs = append(kept, sessionPair{Window: actual, State: stateW})
	}
	o.sessions.Put(pairs)
	o.c.setWindow(stateW)
	o.c.add(v)
	o.onElement(k, actual)
}

func (o *windowOp[K, T, O]) Watermark(wm int64) {
	o.wm = wm
	for {
		t, ok := o.event.PopDue(wm)
		if !ok {
			break
		}
		o.onTimer(t)
	}
	if wm == engine.MaxWatermark && !o.a.IsEventTime() {
		// The end of the input ends processing time too (see finish); fire
		// now so that the results precede the final watermark downstream.
		o.fireProc(math.MaxInt64)
	}
	o.col.out.Watermark(wm)
}

func (o *windowOp[K, T, O]) fireProc(now int64) {
	for {
		t, ok := o.proc.PopDue(now)
		if !ok {
			break
		}
		o.onTimer(t)
	}
	if t, ok := o.proc.Peek(); ok {
		o.arm.request(t.TS, o.fireProc)
	}
}

func (o *windowOp[K, T, O]) onTimer(t timer.Timer[K, window.TimeWindow]) {
	o.b.SetCurrentKey(t.Key)
	w, stateW := t.NS, t.NS
	var pairs []sessionPair
	idx := -1
	if o.sessions != nil {
		pairs, _ = o.sessions.Get()
		for i, p := range pairs {
			if p.Window == w {
				idx = i
				break
			}
		}
		if idx < 0 {
			return // the window merged into another since
		}
		stateW = pairs[idx].State
	}
	o.c.setWindow(stateW)
	if t.TS == w.MaxTimestamp() {
		o.col.ts = w.MaxTimestamp()
		o.c.fire(t.Key, w)
	}
	if t.TS == o.cleanupTime(w) {
		o.c.clear()
		if o.sessions != nil {
			pairs = append(pairs[:idx], pairs[idx+1:]...)
			if len(pairs) == 0 {
				o.sessions.Clear()
			} else {
				o.sessions.Put(pairs)
			}
		}
	}
}

// finish fires every pending processing-time window: the end of a bounded
// input is the end of processing time too. Event-time windows have fired on
// the final watermark.
func (o *windowOp[K, T, O]) finish() {
	if !o.a.IsEventTime() {
		o.fireProc(math.MaxInt64)
	}
	if o.dropped > 0 {
		o.ctx.Logger().Info("weir: window dropped late records", "operator", o.name, "subtask", o.ctx.Subtask(), "records", o.dropped)
	}
}
