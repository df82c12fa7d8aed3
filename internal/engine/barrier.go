package engine

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/keyspace"
)

// SnapshotKind distinguishes engine-owned checkpoints from user-owned
// savepoints.
type SnapshotKind uint8

const (
	// Checkpoint is a periodic snapshot the engine owns and rotates.
	Checkpoint SnapshotKind = iota + 1
	// Savepoint is a snapshot the user triggered and owns.
	Savepoint
)

// String returns "checkpoint" or "savepoint".
func (k SnapshotKind) String() string {
	if k == Savepoint {
		return "savepoint"
	}
	return "checkpoint"
}

// Barrier is a checkpoint barrier: sources inject it into their output
// between two records, and every task snapshots its operators once it has
// received it on all its open input channels (aligned barriers).
type Barrier struct {
	ID   uint64
	Kind SnapshotKind
	// Stop makes sources stop right after the barrier (stop with
	// savepoint): nothing is processed after it. The sources hold there
	// until Job.ResolveStop says whether the savepoint completed: then the
	// job ends; if not, they read on.
	Stop bool
	// Drain makes sources emit the final watermark before the barrier, so
	// that every event-time window and timer fires first (stop --drain).
	Drain bool
}

// KeyedState is one keyed state of an operator subtask as it was at the
// barrier.
type KeyedState struct {
	Name string
	Kind backend.Kind
	// View holds the entries, to be read once, from any goroutine, in
	// (hash, key, namespace) order. Whoever ends up with the snapshot must
	// release it (TaskSnapshot.Release).
	View backend.View
	// KeySchema, NamespaceSchema and ValueSchema are the encoded serializer
	// snapshots, if the table reports them (backend.SchemaReporter).
	KeySchema, NamespaceSchema, ValueSchema []byte
}

// OperatorList is one operator list state of an operator subtask.
type OperatorList struct {
	Name     string
	Mode     opstate.Mode
	Elements [][]byte
	// Schema is the encoded serializer snapshot of the elements, if the
	// list's serializer can describe itself.
	Schema []byte
}

// OperatorSnapshot is the state of one operator subtask at a barrier,
// captured synchronously on the task goroutine. Operator lists are copies;
// keyed state is a View of each table, which the snapshot's writer reads
// while processing goes on.
type OperatorSnapshot struct {
	Node        *Node
	Subtask     int
	Parallelism int
	// Range is the key-hash range the subtask owns.
	Range    keyspace.Range
	Keyed    []KeyedState
	Operator []OperatorList
}

// TaskSnapshot is what a task reports for a barrier: the snapshots of the
// operators of its chain.
type TaskSnapshot struct {
	Barrier Barrier
	// Task is the chain's display name; not unique.
	Task string
	// TaskKey identifies the task uniquely within the job: the ID of an
	// operator of its chain (every operator is in exactly one chain) and
	// the subtask index.
	TaskKey   string
	Subtask   int
	Operators []OperatorSnapshot
	// SyncDuration is how long the task paused processing to capture its
	// operators' state (the synchronous phase).
	SyncDuration time.Duration
}

// Release releases the views of the snapshot's keyed state. It is safe to
// call more than once.
func (ts TaskSnapshot) Release() {
	for _, os := range ts.Operators {
		for _, k := range os.Keyed {
			if k.View != nil {
				k.View.Release()
			}
		}
	}
}

// capture snapshots every operator of the chain. Keyed state is captured as
// views, in time proportional to the number of shards, not of entries.
func (t *task) capture(b Barrier) (TaskSnapshot, error) {
	start := time.Now()
	ts := TaskSnapshot{Barrier: b, Task: t.name, Subtask: t.subtask}
	if len(t.ops) > 0 {
		ts.TaskKey = fmt.Sprintf("%s/%d", t.ops[0].node.ID, t.subtask)
	}
	for _, op := range t.ops {
		if op.inst.BeforeSnapshot != nil {
			if err := op.inst.BeforeSnapshot(); err != nil {
				ts.Release()
				return ts, fmt.Errorf("%s: preparing snapshot %d: %w", op.node.Name, b.ID, err)
			}
		}
		s := OperatorSnapshot{Node: op.node, Subtask: t.subtask, Parallelism: t.parallelism, Range: keyspace.RangeOf(t.subtask, t.parallelism)}
		if op.inst.Keyed != nil {
			for _, tab := range op.inst.Keyed.Tables() {
				ks := KeyedState{Name: tab.Name(), Kind: tab.Kind()}
				if sr, ok := tab.(backend.SchemaReporter); ok {
					ks.KeySchema, ks.NamespaceSchema, ks.ValueSchema = sr.Schemas()
				}
				ks.View = tab.Capture()
				s.Keyed = append(s.Keyed, ks)
			}
		}
		if op.inst.Operator != nil {
			for _, l := range op.inst.Operator.Tables() {
				s.Operator = append(s.Operator, OperatorList{Name: l.Name(), Mode: l.Mode(), Elements: l.Encoded(), Schema: l.Schema()})
			}
		}
		ts.Operators = append(ts.Operators, s)
	}
	ts.SyncDuration = time.Since(start)
	return ts, nil
}

// onBarrier snapshots the chain, reports it and forwards the barrier.
func (t *task) onBarrier(b Barrier) {
	snap, err := t.capture(b)
	if err != nil {
		Fail(err)
	}
	if cb := t.job.opts.OnSnapshot; cb != nil {
		cb(snap)
	} else {
		snap.Release()
	}
	for _, w := range t.writers {
		w.barrier(b)
	}
	if b.Stop {
		t.stopping = true
	}
}

// alignment tracks a barrier arriving on a task's input channels.
type alignment struct {
	active  bool
	barrier Barrier
	waiting int // open channels that have not delivered the barrier yet
}

// barrierArrived handles a barrier on channel c: c is blocked until the
// barrier has arrived on every open channel; then the chain snapshots and
// every channel is unblocked.
func (t *task) barrierArrived(c *inChannel, b Barrier) {
	if !t.align.active {
		t.align = alignment{active: true, barrier: b}
		for _, o := range t.inputs {
			if !o.ended {
				t.align.waiting++
			}
		}
	} else if b.ID != t.align.barrier.ID {
		Fail(fmt.Errorf("engine: barrier %d arrived while aligning barrier %d", b.ID, t.align.barrier.ID))
	}
	c.blocked = true
	t.align.waiting--
	t.maybeAligned()
}

// channelEnded accounts for a channel that ended while a barrier was being
// aligned: it will never deliver the barrier.
func (t *task) channelEnded(c *inChannel) {
	if t.align.active && !c.blocked {
		t.align.waiting--
		t.maybeAligned()
	}
}

func (t *task) maybeAligned() {
	if t.align.waiting > 0 {
		return
	}
	b := t.align.barrier
	t.align = alignment{}
	for _, o := range t.inputs {
		o.blocked = false
	}
	t.onBarrier(b)
}
