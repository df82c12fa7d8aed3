package weir

import (
	"fmt"

	"github.com/weirstream/weir/internal/engine"
)

// Stream is a stream of records of type T. Streams are values; operator
// functions (Map, KeyBy, ...) return new streams, and the configuration
// methods (UID, Name, Parallelism, ...) configure the operator that produces
// the stream.
type Stream[T any] struct {
	env   *Environment
	nodes []*engine.Node // one node, or several for a union
	part  engine.Partition
	// parts, for a union, is each node's partitioning (part is unused).
	parts []engine.Partition
}

// Collector emits records from a user function. Records take the timestamp
// of the record (or timer) being processed.
type Collector[T any] interface {
	Collect(v T)
}

// mustEnv panics with a clear message for the zero Stream, which belongs to
// no job.
func (s Stream[T]) mustEnv() *Environment {
	if s.env == nil {
		panic("weir: this Stream is the zero value; streams come from FromSource and the operator functions")
	}
	return s.env
}

func newStream[T any](env *Environment, n *engine.Node) Stream[T] {
	return Stream[T]{env: env, nodes: []*engine.Node{n}}
}

// Env returns the stream's environment.
func (s Stream[T]) Env() *Environment { return s.env }

func (s Stream[T]) node(what string) *engine.Node {
	if len(s.nodes) != 1 {
		s.env.errf("weir: %s: a union of streams has no operator of its own; configure the operators before the union", what)
		return &engine.Node{}
	}
	return s.nodes[0]
}

// UID sets the operator's unique ID. The UID is how a savepoint finds this
// operator's state after the job has changed; set it on every stateful
// operator and never change it.
func (s Stream[T]) UID(uid string) Stream[T] {
	if uid == "" {
		s.env.errf("weir: UID must not be empty")
		return s
	}
	s.node("UID").UID = uid
	return s
}

// UIDHash pins the operator's 16-byte ID to the given 32 hex digits, for
// example to adopt state of an operator whose UID was never set.
func (s Stream[T]) UIDHash(hexID string) Stream[T] {
	id, err := parseID(hexID)
	if err != nil {
		s.env.errs = append(s.env.errs, err)
		return s
	}
	n := s.node("UIDHash")
	n.ID = id
	if n.UID == "" {
		n.UID = "#" + hexID
	}
	return s
}

// Name sets the operator's display name.
func (s Stream[T]) Name(name string) Stream[T] {
	s.node("Name").Name = name
	return s
}

// Parallelism sets the operator's number of subtasks.
func (s Stream[T]) Parallelism(p int) Stream[T] {
	if p <= 0 {
		s.env.errf("weir: parallelism must be at least 1, got %d", p)
		return s
	}
	s.node("Parallelism").Parallelism = p
	return s
}

// DisableChaining runs the operator in a task of its own.
func (s Stream[T]) DisableChaining() Stream[T] {
	s.node("DisableChaining").ChainingDisabled = true
	return s
}

// Rebalance deals the stream's records round-robin to the next operator's
// subtasks.
func (s Stream[T]) Rebalance() Stream[T] { return s.partition(engine.PartitionRebalance) }

// Broadcast sends every record to every subtask of the next operator.
func (s Stream[T]) Broadcast() Stream[T] { return s.partition(engine.PartitionBroadcast) }

// Forward sends subtask i's records to subtask i of the next operator,
// which must have the same parallelism.
func (s Stream[T]) Forward() Stream[T] { return s.partition(engine.PartitionForward) }

func (s Stream[T]) partition(p engine.Partition) Stream[T] {
	s.part = p
	if s.parts != nil {
		parts := make([]engine.Partition, len(s.parts))
		for i := range parts {
			parts[i] = p
		}
		s.parts = parts
	}
	return s
}

// connect adds edges from the stream's node(s) to input `input` of to.
func (s Stream[T]) connect(to *engine.Node, input int, part engine.Partition, keyHash func(T) uint64) {
	var kh any
	if keyHash != nil {
		kh = keyHash
	}
	for i, n := range s.nodes {
		p := part
		if p == engine.PartitionDefault {
			p = s.part
			if s.parts != nil {
				p = s.parts[i]
			}
		}
		engine.Connect(n, to, input, p, kh)
	}
}

func (s Stream[T]) check(other *Environment) bool {
	if s.env != other {
		other.errf("weir: streams from different environments cannot be combined")
		return false
	}
	return true
}

// Map applies f to every record.
func Map[T, U any](s Stream[T], f func(T) U) Stream[U] {
	n := s.mustEnv().addNode("map", "Map", engine.TypeOf[U](), func(_ *engine.Context, out any) (*engine.Instance, error) {
		op := &mapOp[T, U]{f: f, out: out.(engine.Output[U])}
		return &engine.Instance{Inputs: [2]any{op}}, nil
	})
	s.connect(n, 0, engine.PartitionDefault, nil)
	return newStream[U](s.env, n)
}

type mapOp[T, U any] struct {
	f   func(T) U
	out engine.Output[U]
	u   U // the current result, passed on by pointer
	_   engine.CacheLinePad
}

func (o *mapOp[T, U]) Collect(ts int64, v *T) {
	o.u = o.f(*v)
	o.out.Collect(ts, &o.u)
}
func (o *mapOp[T, U]) Watermark(wm int64) { o.out.Watermark(wm) }

// Filter keeps the records for which keep returns true.
func (s Stream[T]) Filter(keep func(T) bool) Stream[T] {
	n := s.mustEnv().addNode("filter", "Filter", engine.TypeOf[T](), func(_ *engine.Context, out any) (*engine.Instance, error) {
		op := &filterOp[T]{keep: keep, out: out.(engine.Output[T])}
		return &engine.Instance{Inputs: [2]any{op}}, nil
	})
	s.connect(n, 0, engine.PartitionDefault, nil)
	return newStream[T](s.env, n)
}

type filterOp[T any] struct {
	keep func(T) bool
	out  engine.Output[T]
}

func (o *filterOp[T]) Collect(ts int64, v *T) {
	if o.keep(*v) {
		o.out.Collect(ts, v)
	}
}
func (o *filterOp[T]) Watermark(wm int64) { o.out.Watermark(wm) }

// FlatMap calls f for every record; f emits any number of records to out.
func FlatMap[T, U any](s Stream[T], f func(v T, out Collector[U])) Stream[U] {
	n := s.mustEnv().addNode("flat-map", "FlatMap", engine.TypeOf[U](), func(_ *engine.Context, out any) (*engine.Instance, error) {
		op := &flatMapOp[T, U]{f: f, col: tsCollector[U]{out: out.(engine.Output[U])}}
		return &engine.Instance{Inputs: [2]any{op}}, nil
	})
	s.connect(n, 0, engine.PartitionDefault, nil)
	return newStream[U](s.env, n)
}

type flatMapOp[T, U any] struct {
	f   func(T, Collector[U])
	col tsCollector[U]
	_   engine.CacheLinePad
}

func (o *flatMapOp[T, U]) Collect(ts int64, v *T) {
	o.col.ts = ts
	o.f(*v, &o.col)
}
func (o *flatMapOp[T, U]) Watermark(wm int64) { o.col.out.Watermark(wm) }

// tsCollector emits with a timestamp set by the operator.
type tsCollector[T any] struct {
	out engine.Output[T]
	ts  int64
	buf T // the record being emitted, passed on by pointer
}

func (c *tsCollector[T]) Collect(v T) {
	c.buf = v
	c.out.Collect(c.ts, &c.buf)
}

// Union merges streams of the same type into one. It adds no operator: the
// next operator reads from all of them, each input partitioned as its
// stream asked (Rebalance, Broadcast, ...); a partitioning set on the union
// itself applies to all of them.
func Union[T any](s Stream[T], others ...Stream[T]) Stream[T] {
	u := Stream[T]{env: s.env}
	add := func(o Stream[T]) {
		for i, n := range o.nodes {
			p := o.part
			if o.parts != nil {
				p = o.parts[i]
			}
			u.nodes = append(u.nodes, n)
			u.parts = append(u.parts, p)
		}
	}
	add(s)
	for _, o := range others {
		if !o.check(s.env) {
			return u
		}
		add(o)
	}
	return u
}

// Sink writes a job's results somewhere outside the job.
type Sink[T any] interface {
	// NewWriter returns the writer of one subtask.
	NewWriter(ctx SinkContext) (SinkWriter[T], error)
}

// SinkContext tells a sink writer which subtask it serves.
type SinkContext struct {
	Subtask, Parallelism int
}

// SinkWriter writes the records of one sink subtask. Its methods are called
// from one goroutine.
type SinkWriter[T any] interface {
	// Write writes one record.
	Write(v T) error
	// Flush makes everything written so far durable or visible; called at
	// every checkpoint barrier (before the checkpoint completes, which makes
	// the sink at-least-once) and when the input has ended.
	Flush() error
	// Close releases the writer's resources; called once, last, whether the
	// job succeeded or failed.
	Close() error
}

// SinkStream is the end of a stream: a sink operator.
type SinkStream struct {
	s Stream[struct{}]
}

// UID sets the sink operator's unique ID.
func (s SinkStream) UID(uid string) SinkStream { s.s.UID(uid); return s }

// Name sets the sink operator's display name.
func (s SinkStream) Name(name string) SinkStream { s.s.Name(name); return s }

// Parallelism sets the sink's number of subtasks.
func (s SinkStream) Parallelism(p int) SinkStream { s.s.Parallelism(p); return s }

// DisableChaining runs the sink in a task of its own.
func (s SinkStream) DisableChaining() SinkStream { s.s.DisableChaining(); return s }

// UIDHash pins the sink operator's 16-byte ID; see Stream.UIDHash.
func (s SinkStream) UIDHash(hexID string) SinkStream { s.s.UIDHash(hexID); return s }

// To sends the stream to a sink.
func To[T any](s Stream[T], sink Sink[T]) SinkStream {
	n := s.mustEnv().addNode("sink", "Sink", nil, func(ctx *engine.Context, _ any) (*engine.Instance, error) {
		if ctx.Checking() {
			// A sink has no state: nothing to declare, and its writer
			// would create or truncate its output.
			return &engine.Instance{Inputs: [2]any{&sinkOp[T]{name: ctx.Node().Name}}}, nil
		}
		w, err := sink.NewWriter(SinkContext{Subtask: ctx.Subtask(), Parallelism: ctx.Parallelism()})
		if err != nil {
			return nil, err
		}
		op := &sinkOp[T]{w: w, name: ctx.Node().Name}
		// Flushing at every barrier, before the snapshot completes, is what
		// makes the sink at-least-once: after a failure, the job replays
		// from a checkpoint whose earlier records have all been written.
		return &engine.Instance{Inputs: [2]any{op}, Finish: op.finish, Close: w.Close, BeforeSnapshot: op.flush}, nil
	})
	s.connect(n, 0, engine.PartitionDefault, nil)
	return SinkStream{s: newStream[struct{}](s.env, n)}
}

type sinkOp[T any] struct {
	w    SinkWriter[T]
	name string
}

func (o *sinkOp[T]) Collect(_ int64, v *T) {
	if err := o.w.Write(*v); err != nil {
		engine.Fail(fmt.Errorf("sink %q: %w", o.name, err))
	}
}

func (o *sinkOp[T]) Watermark(int64) {}

func (o *sinkOp[T]) flush() error {
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("sink %q: flush: %w", o.name, err)
	}
	return nil
}

func (o *sinkOp[T]) finish() {
	if err := o.w.Flush(); err != nil {
		engine.Fail(fmt.Errorf("sink %q: flush: %w", o.name, err))
	}
}
