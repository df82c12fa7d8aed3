package weir

import (
	"fmt"
	"slices"
	"time"

	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/serde"
)

// Source produces a stream's records. Its work is divided into splits (a
// file, a partition, an interleaved slice of a generator's events); each
// split is an opaque byte string that also records the split's position, so
// a snapshot of a reader's splits is all it takes to resume it elsewhere.
type Source[T any] interface {
	// Bounded reports whether the source ends by itself.
	Bounded() bool
	// Splits returns the splits of a fresh start of a source with the given
	// parallelism. It must be deterministic: every subtask calls it and takes
	// splits i, i+p, i+2p, ... for itself.
	Splits(parallelism int) ([][]byte, error)
	// NewReader returns the reader of one subtask.
	NewReader(ctx SourceContext) (SourceReader[T], error)
}

// SourceContext tells a source reader which subtask it serves.
type SourceContext struct {
	Subtask, Parallelism int
	// Now returns processing time in epoch milliseconds.
	Now func() int64
}

// SourceReader reads the splits assigned to one subtask. Its methods are
// called from one goroutine.
type SourceReader[T any] interface {
	// AddSplits hands the reader splits to read, before the first Read.
	AddSplits(splits [][]byte) error
	// Read emits a batch of records (about a thousand is a good size) and
	// returns. It must not block for long: return a Wait instead.
	Read(out SourceOutput[T]) (ReadStatus, error)
	// SnapshotSplits returns the reader's splits with their current
	// positions.
	SnapshotSplits() ([][]byte, error)
	// Close releases the reader's resources.
	Close() error
}

// SourceOutput receives a reader's records.
type SourceOutput[T any] interface {
	// Emit emits *v with event timestamp ts (epoch milliseconds;
	// NoTimestamp if the source has none). The runtime copies what it
	// keeps: the reader may reuse *v as soon as Emit returns.
	Emit(v *T, ts int64)
}

// Progressor is implemented by the SourceOutput the runtime hands to a
// reader. A reader that has read past records it does not emit (a source
// that filters its split, say) calls Progress with the event timestamp it
// has reached, so that its watermark moves on as if it had emitted a record
// at ts: without it, a subtask whose split holds nothing it emits holds
// back the watermark of every operator downstream. ts is in the reader's
// own timestamps; Progress does nothing when the watermark strategy assigns
// timestamps of its own (WithTimestampAssigner).
type Progressor interface {
	Progress(ts int64)
}

// NoTimestamp marks a record without an event timestamp.
const NoTimestamp int64 = engine.NoTimestamp

// ReadStatus is what a Read call reports besides its records.
type ReadStatus struct {
	// Done reports that the reader will never emit again.
	Done bool
	// Wait asks the runtime not to call Read again before this much time
	// has passed (nothing available yet, or a rate limit).
	Wait time.Duration
}

type wmMode uint8

const (
	wmNone wmMode = iota
	wmBounded
)

// WatermarkStrategy says how a stream gets event timestamps and watermarks.
type WatermarkStrategy[T any] struct {
	mode      wmMode
	bound     int64
	idleness  time.Duration
	timestamp func(v T, sourceTS int64) int64
}

// BoundedOutOfOrderness emits watermarks that trail the highest timestamp
// seen by d: records may arrive up to d out of order without being late.
func BoundedOutOfOrderness[T any](d time.Duration) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{mode: wmBounded, bound: d.Milliseconds()}
}

// MonotonousTimestamps emits watermarks for timestamps that never decrease.
func MonotonousTimestamps[T any]() WatermarkStrategy[T] {
	return WatermarkStrategy[T]{mode: wmBounded}
}

// NoWatermarks emits no watermarks (except the final one when a bounded
// source ends): for processing-time jobs.
func NoWatermarks[T any]() WatermarkStrategy[T] { return WatermarkStrategy[T]{} }

// WithTimestampAssigner takes each record's event timestamp from f instead
// of the source.
func (w WatermarkStrategy[T]) WithTimestampAssigner(f func(v T, sourceTS int64) int64) WatermarkStrategy[T] {
	w.timestamp = f
	return w
}

// WithIdleness marks the subtask idle when it has emitted nothing for d, so
// that it does not hold back the watermark of the operators it feeds.
func (w WatermarkStrategy[T]) WithIdleness(d time.Duration) WatermarkStrategy[T] {
	w.idleness = d
	return w
}

// watermarker turns timestamps into watermarks.
type watermarker[T any] struct {
	WatermarkStrategy[T]
	maxTS  int64
	lastWM int64
}

func (g *watermarker[T]) observe(ts int64) {
	if ts > g.maxTS {
		g.maxTS = ts
	}
}

// next returns the watermark to emit, if it advanced.
func (g *watermarker[T]) next() (int64, bool) {
	if g.mode == wmNone || g.maxTS == engine.MinWatermark {
		return 0, false
	}
	wm := g.maxTS - g.bound - 1
	if wm <= g.lastWM {
		return 0, false
	}
	g.lastWM = wm
	return wm, true
}

// FromSource adds a source to the job.
func FromSource[T any](env *Environment, src Source[T], wm WatermarkStrategy[T]) Stream[T] {
	bounded := src.Bounded()
	n := env.addNode("source", "Source", engine.TypeOf[T](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		p, i := ctx.Parallelism(), ctx.Subtask()
		// The reader's splits, with their positions, are the source's
		// operator state, redistributed evenly on rescale: restored, they
		// resume where they were; a fresh start deals the source's splits
		// i, i+p, ... to subtask i.
		ops := ctx.OperatorState()
		splits, err := opstate.NewList(ops, "source-splits", opstate.EvenSplit, serde.Bytes{})
		if err != nil {
			return nil, fmt.Errorf("restored source splits: %w", err)
		}
		if ctx.Checking() {
			return &engine.Instance{Operator: ops}, nil // its one state is declared
		}
		mine := slices.Collect(splits.All())
		if !ops.Restored("source-splits") {
			all, err := src.Splits(p)
			if err != nil {
				return nil, fmt.Errorf("source splits: %w", err)
			}
			for j := i; j < len(all); j += p {
				mine = append(mine, all[j])
			}
			splits.Update(mine)
		}
		r, err := src.NewReader(SourceContext{Subtask: i, Parallelism: p, Now: ctx.Now})
		if err != nil {
			return nil, err
		}
		if err := r.AddSplits(mine); err != nil {
			_ = r.Close()
			return nil, err
		}
		op := &sourceOp[T]{
			ctx: ctx, r: r, out: out.(engine.Output[T]), bounded: bounded, nsplits: len(mine),
			wm:     watermarker[T]{WatermarkStrategy: wm, maxTS: engine.MinWatermark, lastWM: engine.MinWatermark},
			ops:    ops,
			splits: splits,
		}
		op.lastEmit = ctx.Now()
		return &engine.Instance{Source: op, Close: r.Close, Operator: op.ops,
			BeforeSnapshot: op.snapshotSplits,
			Drain:          func() { op.out.Watermark(engine.MaxWatermark) },
		}, nil
	})
	return newStream[T](env, n)
}

type sourceOp[T any] struct {
	ctx      *engine.Context
	ops      *opstate.Backend
	splits   *opstate.List[[]byte]
	r        SourceReader[T]
	out      engine.Output[T]
	wm       watermarker[T]
	bounded  bool
	nsplits  int
	emitted  int64
	lastEmit int64
	idle     bool
	_        engine.CacheLinePad
}

// Emit implements SourceOutput.
func (s *sourceOp[T]) Emit(v *T, ts int64) {
	if s.wm.timestamp != nil {
		ts = s.wm.timestamp(*v, ts)
	}
	s.wm.observe(ts)
	s.emitted++
	s.out.Collect(ts, v)
}

// Progress implements Progressor.
func (s *sourceOp[T]) Progress(ts int64) {
	if s.wm.timestamp == nil && ts != NoTimestamp {
		s.wm.observe(ts)
	}
}

var _ Progressor = (*sourceOp[int])(nil)

// Poll implements engine.SourceDriver.
func (s *sourceOp[T]) Poll() (time.Duration, bool, error) {
	if s.nsplits == 0 {
		if s.bounded {
			s.out.Watermark(engine.MaxWatermark)
			return 0, true, nil
		}
		// Nothing to read, ever, until splits are reassigned on restore.
		s.ctx.MarkIdle()
		return time.Second, false, nil
	}
	before := s.emitted
	st, err := s.r.Read(s)
	if err != nil {
		return 0, false, err
	}
	if wm, ok := s.wm.next(); ok {
		s.out.Watermark(wm)
	}
	if st.Done {
		s.out.Watermark(engine.MaxWatermark)
		return 0, true, nil
	}
	if s.wm.idleness > 0 {
		now := s.ctx.Now()
		if s.emitted != before {
			s.lastEmit = now
			s.idle = false
		} else if !s.idle && now-s.lastEmit >= s.wm.idleness.Milliseconds() {
			s.idle = true
			s.ctx.MarkIdle()
		}
	}
	return st.Wait, false, nil
}

// snapshotSplits records the reader's splits with their current positions
// in the source's operator state, at a barrier.
func (s *sourceOp[T]) snapshotSplits() error {
	splits, err := s.r.SnapshotSplits()
	if err != nil {
		return fmt.Errorf("source splits: %w", err)
	}
	s.splits.Update(splits)
	return nil
}

// AssignTimestampsAndWatermarks re-stamps a stream's records and generates
// new watermarks from them, replacing the upstream ones. Watermarks are
// emitted every 200ms of processing time (Flink's default auto-watermark
// interval) and every 256 records.
//
// WithIdleness applies to sources only: an operator in the middle of a job
// learns that its input is idle from its upstream tasks.
func AssignTimestampsAndWatermarks[T any](s Stream[T], wm WatermarkStrategy[T]) Stream[T] {
	if wm.idleness != 0 {
		s.env.errf("weir: AssignTimestampsAndWatermarks: WithIdleness only applies to sources (FromSource); upstream idleness already propagates here")
	}
	n := s.env.addNode("timestamps", "Timestamps/Watermarks", engine.TypeOf[T](), func(ctx *engine.Context, out any) (*engine.Instance, error) {
		op := &assignOp[T]{ctx: ctx, out: out.(engine.Output[T]), wm: watermarker[T]{WatermarkStrategy: wm, maxTS: engine.MinWatermark, lastWM: engine.MinWatermark}}
		op.schedule(ctx.Now())
		return &engine.Instance{Inputs: [2]any{op}}, nil
	})
	s.connect(n, 0, engine.PartitionDefault, nil)
	return newStream[T](s.env, n)
}

// watermarkInterval is the processing time, in milliseconds, between the
// periodic watermarks of AssignTimestampsAndWatermarks.
const watermarkInterval = 200

type assignOp[T any] struct {
	ctx   *engine.Context
	out   engine.Output[T]
	wm    watermarker[T]
	n     int
	ended bool
}

func (o *assignOp[T]) schedule(now int64) {
	o.ctx.RegisterProcessingTimer(now+watermarkInterval, o.tick)
}

// tick emits the watermark periodically, so that a slow stream's windows
// fire without waiting for more records.
func (o *assignOp[T]) tick(now int64) {
	if o.ended {
		return
	}
	if wm, ok := o.wm.next(); ok {
		o.out.Watermark(wm)
	}
	o.schedule(now)
}

func (o *assignOp[T]) Collect(ts int64, v *T) {
	if o.wm.timestamp != nil {
		ts = o.wm.timestamp(*v, ts)
	}
	o.wm.observe(ts)
	o.out.Collect(ts, v)
	if o.n++; o.n >= 256 {
		o.n = 0
		if wm, ok := o.wm.next(); ok {
			o.out.Watermark(wm)
		}
	}
}

// Watermark drops upstream watermarks except the final one.
func (o *assignOp[T]) Watermark(wm int64) {
	if next, ok := o.wm.next(); ok {
		o.out.Watermark(next)
	}
	if wm == engine.MaxWatermark {
		o.ended = true
		o.out.Watermark(wm)
	}
}
