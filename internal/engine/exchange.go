package engine

import (
	"sync"

	"github.com/weirstream/weir/internal/keyspace"
)

// Rec is a record with its event timestamp, as it travels between tasks.
type Rec[T any] struct {
	TS int64
	V  T
}

type msgKind uint8

const (
	msgRecords msgKind = iota
	msgWatermark
	msgIdle
	msgActive
	msgEnd
	msgBarrier // batch holds a *Barrier
	// msgResume follows a stop barrier whose savepoint failed: the
	// sources read on (Job.ResolveStop).
	msgResume
)

// message is what travels on a channel. Records travel as a *[]Rec[T] in
// batch; the pointer in an interface does not allocate.
type message struct {
	kind  msgKind
	wm    int64
	batch any
}

// channel is one (producer subtask, consumer subtask) queue.
type channel struct {
	ch     chan message
	notify chan struct{} // the consumer task's wake-up slot
}

// TypeOps holds the operations the engine needs on one record type. The typed
// API creates it with TypeOf; the engine itself never knows record types.
type TypeOps interface {
	fanout(outs []any) any
	newWriter(part Partition, keyHash any, targets []*channel, t *task, pool *sync.Pool) writer
	deliverer(dst any, pool *sync.Pool) func(batch any)
	watermark(dst any, wm int64)
	newPool() *sync.Pool
}

// TypeOf returns the TypeOps of T.
func TypeOf[T any]() TypeOps { return typeOps[T]{} }

type typeOps[T any] struct{}

func (typeOps[T]) fanout(outs []any) any {
	switch len(outs) {
	case 0:
		return discard[T]{}
	case 1:
		return outs[0].(Output[T])
	}
	f := make(fanout[T], len(outs))
	for i, o := range outs {
		f[i] = o.(Output[T])
	}
	return f
}

func (typeOps[T]) newPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]Rec[T], 0, batchSize); return &b }}
}

func (typeOps[T]) newWriter(part Partition, keyHash any, targets []*channel, t *task, pool *sync.Pool) writer {
	w := &partitionWriter[T]{
		task:    t,
		targets: targets,
		pending: make([]*[]Rec[T], len(targets)),
		kind:    part,
		rr:      t.subtask % len(targets),
		pool:    pool,
	}
	if part == PartitionHash {
		w.keyHash = keyHash.(func(T) uint64)
	}
	return w
}

func (typeOps[T]) deliverer(dst any, pool *sync.Pool) func(batch any) {
	out := dst.(Output[T])
	return func(batch any) {
		b := batch.(*[]Rec[T])
		for i := range *b {
			r := &(*b)[i]
			out.Collect(r.TS, &r.V)
		}
		clear(*b) // drop references so pooled batches do not pin records
		*b = (*b)[:0]
		pool.Put(b)
	}
}

func (typeOps[T]) watermark(dst any, wm int64) { dst.(Output[T]).Watermark(wm) }

// batchSize is the number of records per batch between tasks.
const batchSize = 512

// channelCapacity is the number of batches a channel buffers before its
// producer blocks.
const channelCapacity = 4

// writer is the engine's untyped view of a partitionWriter.
type writer interface {
	flush()
	control(kind msgKind, wm int64)
	barrier(b Barrier)
}

// partitionWriter is an Output[T] that routes records to the channels of one
// edge, batching per target.
type partitionWriter[T any] struct {
	task    *task
	targets []*channel
	pending []*[]Rec[T]
	kind    Partition
	keyHash func(T) uint64
	rr      int
	pool    *sync.Pool
	_       CacheLinePad
}

func (w *partitionWriter[T]) Collect(ts int64, v *T) {
	if w.task.idle {
		w.task.setIdle(false)
	}
	switch w.kind {
	case PartitionHash:
		w.add(keyspace.Owner(w.keyHash(*v), len(w.targets)), ts, v)
	case PartitionRebalance:
		w.rr++
		if w.rr == len(w.targets) {
			w.rr = 0
		}
		w.add(w.rr, ts, v)
	case PartitionBroadcast:
		for j := range w.targets {
			w.add(j, ts, v)
		}
	default: // forward: exactly one target
		w.add(0, ts, v)
	}
}

func (w *partitionWriter[T]) add(j int, ts int64, v *T) {
	b := w.pending[j]
	if b == nil {
		b = w.pool.Get().(*[]Rec[T])
		w.pending[j] = b
	}
	*b = append(*b, Rec[T]{TS: ts, V: *v})
	if len(*b) >= batchSize {
		w.pending[j] = nil
		w.task.send(w.targets[j], message{kind: msgRecords, batch: b})
	}
}

// Watermark sends wm to every target. A watermark is progress: a task that
// was idle and emits one is active again (its records may all have been
// dropped by a chained filter), or its consumers would ignore it.
func (w *partitionWriter[T]) Watermark(wm int64) {
	if w.task.idle {
		w.task.setIdle(false)
	}
	w.control(msgWatermark, wm)
}

func (w *partitionWriter[T]) flush() {
	for j, b := range w.pending {
		if b != nil {
			w.pending[j] = nil
			w.task.send(w.targets[j], message{kind: msgRecords, batch: b})
		}
	}
}

func (w *partitionWriter[T]) barrier(b Barrier) {
	w.flush()
	for _, c := range w.targets {
		w.task.send(c, message{kind: msgBarrier, batch: &b})
	}
}

func (w *partitionWriter[T]) control(kind msgKind, wm int64) {
	w.flush()
	for _, c := range w.targets {
		w.task.send(c, message{kind: kind, wm: wm})
	}
}

// fanout forwards to several outputs.
type fanout[T any] []Output[T]

func (f fanout[T]) Collect(ts int64, v *T) {
	for _, o := range f {
		o.Collect(ts, v)
	}
}

func (f fanout[T]) Watermark(wm int64) {
	for _, o := range f {
		o.Watermark(wm)
	}
}

// discard drops everything; the output of a node nobody consumes.
type discard[T any] struct{}

func (discard[T]) Collect(int64, *T) {}
func (discard[T]) Watermark(int64)   {}
