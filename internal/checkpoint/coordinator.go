// Package checkpoint holds the checkpoint coordinator: a deterministic state
// machine that triggers snapshots, collects every task's acknowledgement,
// aborts snapshots that time out or fail, and completes a snapshot only once
// its metadata has been written — the last step, which is what makes a
// snapshot exist.
//
// The coordinator does no I/O and reads no clock. A driver feeds it events
// (a trigger request, a task's acknowledgement, the outcome of a write, a
// clock tick) with Step and carries out the actions it returns (inject a
// barrier, write a snapshot, report completion or abortion, dispose of an
// old checkpoint). That split, as in etcd's raft, is what lets the protocol
// be tested step by step without sleeps.
package checkpoint

import (
	"fmt"
	"slices"

	"github.com/weirstream/weir/internal/engine"
)

// Options configure a Coordinator.
type Options struct {
	// Tasks is the number of tasks that acknowledge each barrier.
	Tasks int
	// Timeout aborts a snapshot not completed this many milliseconds after
	// it was triggered. Zero means 10 minutes, as Flink.
	Timeout int64
	// Retain is how many completed checkpoints are kept; older ones are
	// disposed of. Savepoints are never disposed of. Zero means 1.
	Retain int
	// Owned are snapshots the coordinator owns from the start, oldest
	// first: a snapshot restored in claim mode, or the checkpoints of a run
	// being recovered. They are disposed of like checkpoints once newer
	// ones subsume them.
	Owned []string
}

// Event is something that happened; see Step.
type Event interface{ event() }

// Trigger asks for a snapshot.
type Trigger struct {
	Now  int64
	Kind engine.SnapshotKind
	// Dir is where a savepoint goes (checkpoints go to the configured
	// checkpoint directory; the driver knows it).
	Dir   string
	Stop  bool
	Drain bool
	// Request identifies the caller, echoed in the resulting Completed or
	// Aborted action.
	Request uint64
}

// Ack is a task's snapshot of a barrier.
type Ack struct {
	Snapshot engine.TaskSnapshot
}

// Decline is a task's or the engine's refusal to take a snapshot.
type Decline struct {
	ID     uint64
	Reason error
}

// Written reports the outcome of a Write action: the snapshot's metadata
// was written at Path (the snapshot now exists), or writing failed.
type Written struct {
	ID   uint64
	Path string
	Err  error
}

// Tick advances the coordinator's notion of time.
type Tick struct{ Now int64 }

func (Trigger) event() {}
func (Ack) event()     {}
func (Decline) event() {}
func (Written) event() {}
func (Tick) event()    {}

// Action is something the driver must do.
type Action interface{ action() }

// Inject asks the engine to inject a barrier at every source.
type Inject struct{ Barrier engine.Barrier }

// Write asks the driver to write the snapshot asynchronously — data first,
// metadata last — and to report the outcome with Written.
type Write struct {
	ID    uint64
	Kind  engine.SnapshotKind
	Dir   string
	Tasks []engine.TaskSnapshot
}

// Completed reports a snapshot that exists.
type Completed struct {
	ID      uint64
	Kind    engine.SnapshotKind
	Path    string
	Request uint64
}

// Aborted reports a snapshot that will never exist. The driver removes
// whatever it wrote of it.
type Aborted struct {
	ID      uint64
	Kind    engine.SnapshotKind
	Reason  error
	Request uint64
}

// Dispose asks the driver to delete a completed checkpoint that is no
// longer retained.
type Dispose struct{ Path string }

func (Inject) action()    {}
func (Write) action()     {}
func (Completed) action() {}
func (Aborted) action()   {}
func (Dispose) action()   {}

// phase is where a pending snapshot stands.
type phase uint8

const (
	collecting phase = iota + 1 // barriers travelling, acks arriving
	writing                     // all acks in, Write issued
)

type pending struct {
	id       uint64
	trigger  Trigger
	deadline int64
	phase    phase
	acks     []engine.TaskSnapshot
	seen     map[string]bool // task/subtask that acked
}

// Coordinator is the checkpoint coordinator's state. It is not safe for
// concurrent use: one driver goroutine steps it.
type Coordinator struct {
	opts     Options
	lastID   uint64
	current  *pending // at most one snapshot is in flight
	retained []string // completed checkpoint paths, oldest first
	stopped  bool
}

// New returns a coordinator; lastID is the ID of the newest snapshot the job
// was restored from (IDs keep increasing across restores), or 0.
func New(opts Options, lastID uint64) (*Coordinator, error) {
	if opts.Tasks <= 0 {
		return nil, fmt.Errorf("checkpoint: %d tasks", opts.Tasks)
	}
	if opts.Timeout < 0 || opts.Retain < 0 {
		return nil, fmt.Errorf("checkpoint: negative timeout or retention")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * 60 * 1000
	}
	if opts.Retain == 0 {
		opts.Retain = 1
	}
	return &Coordinator{opts: opts, lastID: lastID, retained: slices.Clone(opts.Owned)}, nil
}

// InFlight reports the ID of the snapshot in progress, if any.
func (c *Coordinator) InFlight() (uint64, bool) {
	if c.current == nil {
		return 0, false
	}
	return c.current.id, true
}

// Retained returns the paths of the retained completed checkpoints, oldest
// first.
func (c *Coordinator) Retained() []string { return slices.Clone(c.retained) }

// ErrBusy declines a trigger while another snapshot is in flight.
var ErrBusy = fmt.Errorf("checkpoint: another snapshot is in progress")

// ErrStopped declines a trigger after a stop-with-savepoint completed.
var ErrStopped = fmt.Errorf("checkpoint: the job has stopped")

// Step applies an event and returns the actions the driver must carry out,
// in order.
func (c *Coordinator) Step(e Event) []Action {
	switch e := e.(type) {
	case Trigger:
		return c.trigger(e)
	case Ack:
		return c.ack(e)
	case Decline:
		if c.current == nil || c.current.id != e.ID {
			return nil
		}
		return c.abort(fmt.Errorf("checkpoint %d declined: %w", e.ID, e.Reason))
	case Written:
		return c.written(e)
	case Tick:
		if c.current != nil && e.Now >= c.current.deadline {
			return c.abort(fmt.Errorf("%s %d timed out after %d ms", c.current.trigger.Kind, c.current.id, c.opts.Timeout))
		}
	}
	return nil
}

func (c *Coordinator) trigger(t Trigger) []Action {
	switch {
	case c.stopped:
		return []Action{Aborted{Kind: t.Kind, Reason: ErrStopped, Request: t.Request}}
	case c.current != nil:
		return []Action{Aborted{Kind: t.Kind, Reason: ErrBusy, Request: t.Request}}
	}
	c.lastID++
	c.current = &pending{id: c.lastID, trigger: t, deadline: t.Now + c.opts.Timeout, phase: collecting, seen: map[string]bool{}}
	return []Action{Inject{Barrier: engine.Barrier{ID: c.lastID, Kind: t.Kind, Stop: t.Stop, Drain: t.Drain}}}
}

func (c *Coordinator) ack(a Ack) []Action {
	p := c.current
	if p == nil || p.id != a.Snapshot.Barrier.ID || p.phase != collecting {
		a.Snapshot.Release() // late ack of an aborted snapshot
		return nil
	}
	who := a.Snapshot.TaskKey
	if who == "" {
		who = fmt.Sprintf("%s/%d", a.Snapshot.Task, a.Snapshot.Subtask)
	}
	if p.seen[who] {
		a.Snapshot.Release()
		return c.abort(fmt.Errorf("checkpoint %d: task %s acknowledged twice", p.id, who))
	}
	p.seen[who] = true
	p.acks = append(p.acks, a.Snapshot)
	if len(p.acks) < c.opts.Tasks {
		return nil
	}
	p.phase = writing
	return []Action{Write{ID: p.id, Kind: p.trigger.Kind, Dir: p.trigger.Dir, Tasks: p.acks}}
}

func (c *Coordinator) written(w Written) []Action {
	p := c.current
	if p == nil || p.id != w.ID || p.phase != writing {
		return nil
	}
	if w.Err != nil {
		return c.abort(fmt.Errorf("writing %s %d: %w", p.trigger.Kind, p.id, w.Err))
	}
	c.current = nil
	acts := []Action{Completed{ID: p.id, Kind: p.trigger.Kind, Path: w.Path, Request: p.trigger.Request}}
	if p.trigger.Stop {
		c.stopped = true
	}
	if p.trigger.Kind == engine.Checkpoint {
		c.retained = append(c.retained, w.Path)
		for len(c.retained) > c.opts.Retain {
			acts = append(acts, Dispose{Path: c.retained[0]})
			c.retained = c.retained[1:]
		}
	}
	return acts
}

// abort ends the current snapshot and releases the state its
// acknowledgements hold; a writer still reading it then fails at once
// instead of finishing a snapshot nobody wants, and the tasks stop encoding
// for it.
func (c *Coordinator) abort(reason error) []Action {
	p := c.current
	c.current = nil
	for _, s := range p.acks {
		s.Release()
	}
	return []Action{Aborted{ID: p.id, Kind: p.trigger.Kind, Reason: reason, Request: p.trigger.Request}}
}
