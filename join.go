package weir

import (
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/timer"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/window"
)

// Either holds a record of one of two streams being co-grouped.
type Either[A, B any] struct {
	IsB bool
	A   A
	B   B
}

// CoGroupFunc computes the results of one key's window from the records of
// both sides.
type CoGroupFunc[K comparable, A, B, O any] func(key K, w window.TimeWindow, as []A, bs []B, out Collector[O]) error

// WindowedJoin is two keyed streams cut into the same windows.
type WindowedJoin[K comparable, A, B any] struct {
	ws WindowedStream[K, Either[A, B]]
}

// JoinWindows pairs two keyed streams with the same key type by window: the
// records of a key in a window, from both sides, meet when the window fires.
func JoinWindows[K comparable, A, B any](a KeyedStream[K, A], b KeyedStream[K, B], w window.Assigner) WindowedJoin[K, A, B] {
	ta := Map(a.s, func(v A) Either[A, B] { return Either[A, B]{A: v} }).Name("JoinLeft")
	tb := Map(b.s, func(v B) Either[A, B] { return Either[A, B]{IsB: true, B: v} }).Name("JoinRight")
	ka, kb := a.key, b.key
	keyed := KeyBy(Union(ta, tb), func(e Either[A, B]) K {
		if e.IsB {
			return kb(e.B)
		}
		return ka(e.A)
	})
	return WindowedJoin[K, A, B]{ws: keyed.Window(w)}
}

// AllowedLateness keeps window state for d after the window fired; see
// WindowedStream.AllowedLateness.
func (j WindowedJoin[K, A, B]) AllowedLateness(d time.Duration) WindowedJoin[K, A, B] {
	j.ws = j.ws.AllowedLateness(d)
	return j
}

// WindowCoGroup calls fn once per key and window with all records of both
// sides (either side may be empty).
func WindowCoGroup[K comparable, A, B, O any](j WindowedJoin[K, A, B], fn CoGroupFunc[K, A, B, O]) Stream[O] {
	s := WindowProcess(j.ws, func(key K, w window.TimeWindow, in iter.Seq[Either[A, B]], out Collector[O]) error {
		var as []A
		var bs []B
		for e := range in {
			if e.IsB {
				bs = append(bs, e.B)
			} else {
				as = append(as, e.A)
			}
		}
		return fn(key, w, as, bs, out)
	})
	return s.Name("WindowCoGroup")
}

// WindowJoin emits join(a, b) for every pair of records with the same key in
// the same window (an inner join).
func WindowJoin[K comparable, A, B, O any](j WindowedJoin[K, A, B], join func(a A, b B) O) Stream[O] {
	return WindowCoGroup(j, func(_ K, _ window.TimeWindow, as []A, bs []B, out Collector[O]) error {
		for _, a := range as {
			for _, b := range bs {
				out.Collect(join(a, b))
			}
		}
		return nil
	}).Name("WindowJoin")
}

// Interval bounds an interval join: b joins a when
// a.ts + Lower <= b.ts <= a.ts + Upper (bounds inclusive unless marked
// exclusive).
type Interval struct {
	Lower, Upper                   time.Duration
	LowerExclusive, UpperExclusive bool
}

// IntervalJoinFunc handles one joined pair; ts is the later of the two
// timestamps, which is also the result's timestamp.
type IntervalJoinFunc[A, B, O any] func(a A, b B, ts int64, out Collector[O]) error

// IntervalJoin joins two keyed streams in event time: every a meets every b
// of the same key whose timestamp lies in a's interval. Records behind the
// watermark are dropped; state is cleaned up once the watermark has passed
// the interval.
func IntervalJoin[K comparable, A, B, O any](a KeyedStream[K, A], b KeyedStream[K, B], iv Interval, fn IntervalJoinFunc[A, B, O]) Stream[O] {
	env := a.s.env
	lower, upper := iv.Lower.Milliseconds(), iv.Upper.Milliseconds()
	if iv.LowerExclusive {
		lower++
	}
	if iv.UpperExclusive {
		upper--
	}
	if lower > upper {
		env.errf("weir: IntervalJoin: lower bound %v is after upper bound %v", iv.Lower, iv.Upper)
	}
	b.s.check(env)
	serA, errA := serde.Lookup[[]A]()
	if errA != nil {
		env.errf("weir: IntervalJoin: left records: %w", errA)
	}
	serB, errB := serde.Lookup[[]B]()
	if errB != nil {
		env.errf("weir: IntervalJoin: right records: %w", errB)
	}
	n := env.addNode("interval-join", "IntervalJoin", engine.TypeOf[O](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		be := hashmap.New(a.keySer, a.kh, ctx.Now)
		left, err := hashmap.NewMap[K, void, int64, []A](be, "left-buffer", serde.Of[void](), serde.Int64{}, serA, hashmap.TTL{})
		if err != nil {
			return nil, err
		}
		right, err := hashmap.NewMap[K, void, int64, []B](be, "right-buffer", serde.Of[void](), serde.Int64{}, serB, hashmap.TTL{})
		if err != nil {
			return nil, err
		}
		op := &intervalJoinOp[K, A, B, O]{
			b: be, left: left, right: right, keyA: a.key, keyB: b.key, lower: lower, upper: upper,
			fn: fn, col: tsCollector[O]{out: out.(engine.Output[O])}, timers: timer.NewQueue[K, cleanup](),
			wm: engine.MinWatermark, name: ctx.Node().Name, log: ctx.Logger(),
		}
		if _, err := hashmap.NewTimers(be, "timers/cleanup", op.timers, serde.Of[cleanup]()); err != nil {
			return nil, err
		}
		return &engine.Instance{Inputs: [2]any{op, (*intervalJoinRight[K, A, B, O])(op)}, Keyed: be, Finish: op.finish}, nil
	})
	a.connect(n, 0)
	b.connect(n, 1)
	return newStream[O](env, n)
}

// cleanup names the buffer entry a join timer removes.
type cleanup struct {
	Right bool
	TS    int64
}

type intervalJoinOp[K comparable, A, B, O any] struct {
	b            *hashmap.Backend[K]
	left         *hashmap.Map[K, void, int64, []A]
	right        *hashmap.Map[K, void, int64, []B]
	keyA         func(A) K
	keyB         func(B) K
	lower, upper int64
	fn           IntervalJoinFunc[A, B, O]
	col          tsCollector[O]
	timers       *timer.Queue[K, cleanup]
	wm           int64
	dropped      int64
	name         string
	log          *slog.Logger
}

func (o *intervalJoinOp[K, A, B, O]) emit(a A, b B, ts int64) {
	o.col.ts = ts
	if err := o.fn(a, b, ts, &o.col); err != nil {
		engine.Fail(fmt.Errorf("%s: %w", o.name, err))
	}
}

// late reports whether a record is behind the watermark (and counts it);
// as in Flink, a record at exactly the watermark is not late.
func (o *intervalJoinOp[K, A, B, O]) late(ts int64, v any) bool {
	if ts == engine.NoTimestamp {
		engine.Fail(fmt.Errorf("%s: record %v has no event timestamp; an interval join needs one: give the source a timestamp assigner", o.name, v))
	}
	if ts < o.wm {
		o.dropped++
		return true
	}
	return false
}

// finish reports the records dropped as late.
func (o *intervalJoinOp[K, A, B, O]) finish() {
	if o.dropped > 0 {
		o.log.Info("weir: interval join dropped late records", "operator", o.name, "records", o.dropped)
	}
}

// Collect handles a left record.
func (o *intervalJoinOp[K, A, B, O]) Collect(ts int64, p *A) {
	a := *p
	if o.late(ts, a) {
		return
	}
	k := o.keyA(a)
	o.b.SetCurrentKey(k)
	l, _ := o.left.Get(ts)
	o.left.Put(ts, append(l, a))
	for rts, bs := range o.right.All() {
		if d := rts - ts; d >= o.lower && d <= o.upper {
			for _, b := range bs {
				o.emit(a, b, max(ts, rts))
			}
		}
	}
	// The entry is useless once the watermark is past ts+upper (a timer
	// fires when the watermark reaches its time).
	o.timers.Add(timer.Timer[K, cleanup]{TS: addSat(ts, max(o.upper, 0)+1), Key: k, NS: cleanup{TS: ts}})
}

func (o *intervalJoinOp[K, A, B, O]) Watermark(wm int64) {
	o.wm = wm
	for {
		t, ok := o.timers.PopDue(wm)
		if !ok {
			break
		}
		o.b.SetCurrentKey(t.Key)
		if t.NS.Right {
			o.right.Remove(t.NS.TS)
		} else {
			o.left.Remove(t.NS.TS)
		}
	}
	o.col.out.Watermark(wm)
}

// intervalJoinRight is the operator's right input.
type intervalJoinRight[K comparable, A, B, O any] intervalJoinOp[K, A, B, O]

func (r *intervalJoinRight[K, A, B, O]) Collect(ts int64, p *B) {
	b := *p
	o := (*intervalJoinOp[K, A, B, O])(r)
	if o.late(ts, b) {
		return
	}
	k := o.keyB(b)
	o.b.SetCurrentKey(k)
	l, _ := o.right.Get(ts)
	o.right.Put(ts, append(l, b))
	for lts, as := range o.left.All() {
		if d := ts - lts; d >= o.lower && d <= o.upper {
			for _, a := range as {
				o.emit(a, b, max(ts, lts))
			}
		}
	}
	// A right record at ts matches lefts in [ts-upper, ts-lower]; it is
	// useless once the watermark is past ts-lower.
	o.timers.Add(timer.Timer[K, cleanup]{TS: addSat(ts, max(-o.lower, 0)+1), Key: k, NS: cleanup{Right: true, TS: ts}})
}

// Watermark of the right input: the engine delivers the combined watermark
// through the left input only.
func (r *intervalJoinRight[K, A, B, O]) Watermark(int64) {}

func addSat(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return engine.MaxWatermark
}
