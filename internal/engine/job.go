package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/keyspace"
)

// Clock is the source of processing time. Tests substitute a manual clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Options configure a run.
type Options struct {
	// Parallelism is the default parallelism of nodes that set none.
	// Defaults to 1.
	Parallelism int
	// Clock gives processing time. Defaults to SystemClock.
	Clock Clock
	// Logger receives the engine's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// OnSnapshot receives every task's snapshot of a barrier, on the task's
	// goroutine: it must hand the snapshot off and return quickly.
	OnSnapshot func(TaskSnapshot)
	// Restore, if set, is the snapshot the job starts from. Operators the
	// snapshot has no state for start empty. The subtasks' keyed state is
	// loaded in parallel: Keyed and Schemas are called from several
	// goroutines at once and must be safe for concurrent use.
	Restore RestoreSource
	// DropUndeclared, if set, lets a restore skip state that the snapshot
	// holds for an operator of the job but that the operator no longer
	// declares (--allow-non-restored-state): it is called with the
	// operator, the state's kind (KindKeyed or KindOperatorList: a keyed
	// state and an operator list may share a name) and its name, once per
	// subtask, from the goroutine that builds the job. If nil, such state
	// fails the restore.
	DropUndeclared func(n *Node, kind, state string)
}

// The kinds of state DropUndeclared reports, as restore errors name them.
const (
	KindKeyed        = "keyed state"
	KindOperatorList = "operator list state"
)

func (o *Options) ensureDefaults() {
	if o.Parallelism <= 0 {
		o.Parallelism = 1
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// job is one run of a graph.
type job struct {
	opts  Options
	done  <-chan struct{}
	pools map[*Edge]*sync.Pool
	plan  *Plan
	// undeclared are the operators that do not declare states the snapshot
	// holds for them; build fails with all of them.
	undeclared []undeclaredOp
	// pending are the keyed restores instantiate deferred; build runs them
	// in parallel once every task is built.
	pending []keyedRestore
	// checks, if not nil, makes build a Check: it restores nothing and
	// records here how each operator's states would restore.
	checks map[OperatorID][]StateCheck
	// gate orders Trigger and the end of sources: once a source has set
	// sourceEnded, under gate, no barrier is triggered, and the source
	// injects any barrier already sent to it before it finishes.
	gate        sync.Mutex
	sourceEnded bool
}

func (j *job) now() int64 { return j.opts.Clock.Now().UnixMilli() }

// Run executes the graph made of nodes until every task has finished, the
// context is cancelled, or a task fails; a failure cancels every other task
// and Run returns the first error. Run returns only after every goroutine it
// started has exited.
func Run(ctx context.Context, nodes []*Node, opts Options) error {
	j, err := Start(ctx, nodes, opts)
	if err != nil {
		return err
	}
	return j.Wait()
}

// Job is a running job.
type Job struct {
	j       *job
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	tasks   []*task
	sources []*task

	mu       sync.Mutex
	firstErr error
	running  int
}

// Start starts the graph's tasks and returns at once; Wait waits for them.
func Start(ctx context.Context, nodes []*Node, opts Options) (*Job, error) {
	opts.ensureDefaults()
	plan, err := Compile(nodes, opts.Parallelism)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	j := &job{opts: opts, done: ctx.Done(), pools: map[*Edge]*sync.Pool{}, plan: plan}
	tasks, err := j.build()
	if err != nil {
		cancel()
		return nil, err
	}
	h := &Job{j: j, ctx: ctx, cancel: cancel, tasks: tasks, running: len(tasks)}
	for _, t := range tasks {
		if t.source != nil {
			h.sources = append(h.sources, t)
		}
	}
	for _, t := range tasks {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			err := t.run()
			h.mu.Lock()
			h.running--
			if err != nil && h.firstErr == nil && !errors.Is(err, errAborted) {
				h.firstErr = fmt.Errorf("%s (subtask %d/%d): %w", t.name, t.subtask+1, t.parallelism, err)
			}
			h.mu.Unlock()
			if err != nil {
				cancel()
			}
		}()
	}
	return h, nil
}

// Tasks returns the number of tasks; each reports one TaskSnapshot per
// completed barrier.
func (h *Job) Tasks() int { return len(h.tasks) }

// ErrFinishing is returned by Trigger once some task has finished: a
// snapshot could no longer cover the whole job.
var ErrFinishing = errors.New("engine: the job is finishing; part of it has already ended")

// Trigger injects barrier b at every source. Each task then reports its
// snapshot through Options.OnSnapshot. The caller must not trigger a new
// barrier before the previous one has been reported by every task.
func (h *Job) Trigger(b Barrier) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.firstErr != nil || h.ctx.Err() != nil {
		return fmt.Errorf("engine: the job is not running")
	}
	// Every source takes the barrier, or none: a source that has
	// ended, or is ending (sourceEnded), would never inject it.
	h.j.gate.Lock()
	defer h.j.gate.Unlock()
	if h.running < len(h.tasks) || h.j.sourceEnded {
		return ErrFinishing
	}
	for _, t := range h.sources {
		if len(t.ctl) == cap(t.ctl) {
			return fmt.Errorf("engine: source %s (subtask %d) has %d barriers pending", t.name, t.subtask+1, len(t.ctl))
		}
	}
	for _, t := range h.sources {
		t.ctl <- b // room checked above; only Trigger sends, under h.mu
	}
	return nil
}

// ResolveStop ends the stop with savepoint whose barrier has ID id (barrier
// IDs only grow: a source held at a stop learns that it failed from the
// outcome of a later one, too). Sources
// that injected a stop barrier (Barrier.Stop) hold there, neither reading
// nor firing timers, until they learn whether its savepoint completed: then
// they finish and the job ends; otherwise they resume reading, and the job
// goes on as if the barrier had been a savepoint's, as Flink's does when a
// stop with savepoint fails. Call it once the snapshot completed or was
// aborted.
func (h *Job) ResolveStop(id uint64, completed bool) {
	for _, t := range h.sources {
		t.resolveStop(id, completed)
	}
}

// Fail ends the job with err: every task stops, and Wait returns err
// unless a task failed first.
func (h *Job) Fail(err error) {
	h.mu.Lock()
	if h.firstErr == nil {
		h.firstErr = err
	}
	h.mu.Unlock()
	h.cancel()
}

// Cancel stops the job; Wait then returns context.Canceled.
func (h *Job) Cancel() { h.cancel() }

// Wait waits until every task has exited and returns the first error.
func (h *Job) Wait() error {
	h.wg.Wait()
	defer h.cancel()
	h.mu.Lock()
	firstErr := h.firstErr
	h.mu.Unlock()
	if firstErr != nil {
		return firstErr
	}
	if err := h.ctx.Err(); err != nil {
		// Cancelled from outside (or by a task that then reported nothing).
		if cerr := context.Cause(h.ctx); cerr != nil {
			return cerr
		}
		return err
	}
	return nil
}

// Plan is a graph resolved for execution: parallelism per node, partitioner
// per edge and which edges are chained.
type Plan struct {
	Nodes       []*Node
	Parallelism map[*Node]int
	Partition   map[*Edge]Partition
	Chained     map[*Edge]bool
}

// Compile validates the graph and resolves parallelism, partitioning and
// chaining.
func Compile(nodes []*Node, defaultParallelism int) (*Plan, error) {
	if len(nodes) == 0 {
		return nil, errors.New("engine: the job has no operators")
	}
	p := &Plan{Nodes: nodes, Parallelism: map[*Node]int{}, Partition: map[*Edge]Partition{}, Chained: map[*Edge]bool{}}
	hasSink := false
	for _, n := range nodes {
		par := n.Parallelism
		if par <= 0 {
			par = defaultParallelism
		}
		p.Parallelism[n] = par
		if n.Make == nil {
			return nil, fmt.Errorf("engine: operator %q has no implementation", n.Name)
		}
		if n.Out == nil {
			hasSink = true
		}
	}
	if !hasSink {
		return nil, errors.New("engine: the job has no sink; add one with weir.To")
	}
	for _, n := range nodes {
		for _, e := range n.Outputs {
			from, to := p.Parallelism[e.From], p.Parallelism[e.To]
			part := e.Partition
			switch part {
			case PartitionDefault:
				part = PartitionForward
				if from != to {
					part = PartitionRebalance
				}
			case PartitionForward:
				if from != to {
					return nil, fmt.Errorf("engine: forward edge from %q (parallelism %d) to %q (parallelism %d): both ends need the same parallelism; use Rebalance() or equal parallelism",
						e.From.Name, from, e.To.Name, to)
				}
			case PartitionHash:
				if e.KeyHash == nil {
					return nil, fmt.Errorf("engine: hash edge into %q has no key", e.To.Name)
				}
			}
			p.Partition[e] = part
			p.Chained[e] = part == PartitionForward && len(e.To.Inputs) == 1 &&
				!e.From.ChainingDisabled && !e.To.ChainingDisabled
		}
	}
	return p, nil
}

// IsHead reports whether n starts a chain.
func (p *Plan) IsHead(n *Node) bool {
	return len(n.Inputs) != 1 || !p.Chained[n.Inputs[0]]
}

// Chain returns the nodes of the chain headed by head, in chain order.
func (p *Plan) Chain(head *Node) []*Node {
	var out []*Node
	var walk func(n *Node)
	walk = func(n *Node) {
		out = append(out, n)
		for _, e := range n.Outputs {
			if p.Chained[e] {
				walk(e.To)
			}
		}
	}
	walk(head)
	return out
}

func (j *job) build() ([]*task, error) {
	p := j.plan
	// Channels for every edge that crosses tasks.
	chans := map[*Edge][][]*channel{}
	taskOf := map[*Node][]*task{}
	var tasks []*task
	for _, n := range p.Nodes {
		if !p.IsHead(n) {
			continue
		}
		par := p.Parallelism[n]
		names := make([]string, 0, 4)
		for _, c := range p.Chain(n) {
			names = append(names, c.Name)
		}
		for i := 0; i < par; i++ {
			t := &task{
				job: j, name: strings.Join(names, " -> "), subtask: i, parallelism: par,
				notify: make(chan struct{}, 1), wm: MinWatermark,
				proc: procTimers{clock: j.opts.Clock, wake: make(chan struct{}, 1)},
			}
			if len(n.Inputs) == 0 {
				t.ctl = make(chan Barrier, 16)
				t.stops = newStopOutcomes()
			}
			taskOf[n] = append(taskOf[n], t)
			tasks = append(tasks, t)
		}
	}
	for _, n := range p.Nodes {
		for _, e := range n.Outputs {
			if p.Chained[e] {
				continue
			}
			j.pools[e] = e.From.Out.newPool()
			from, to := p.Parallelism[e.From], p.Parallelism[e.To]
			consumers := taskOf[e.To]
			m := make([][]*channel, from)
			for a := 0; a < from; a++ {
				m[a] = make([]*channel, to)
				for b := 0; b < to; b++ {
					if p.Partition[e] == PartitionForward && a != b {
						continue
					}
					m[a][b] = &channel{ch: make(chan message, channelCapacity), notify: consumers[b].notify}
				}
			}
			chans[e] = m
		}
	}
	// fail releases what every task built so far holds: no task will run.
	fail := func(err error) ([]*task, error) {
		var closeErrs []error
		for _, built := range tasks {
			closeErrs = append(closeErrs, runClosers(built.closers)...)
		}
		return nil, joinErrors(err, closeErrs)
	}
	for _, n := range p.Nodes {
		if !p.IsHead(n) {
			continue
		}
		for _, t := range taskOf[n] {
			first, firstU := len(j.pending), len(j.undeclared)
			inst, err := j.instantiate(t, n, chans)
			// Errors name the chain's head, whichever operator of the
			// chain failed.
			for i := first; i < len(j.pending); i++ {
				j.pending[i].head = n
			}
			for i := firstU; i < len(j.undeclared); i++ {
				j.undeclared[i].head = n
			}
			if err != nil {
				err = fmt.Errorf("engine: creating %s (subtask %d/%d): %w", n.Name, t.subtask+1, t.parallelism, err)
				if len(j.undeclared) > 0 {
					// Name what was found before too.
					err = errors.Join(undeclared(j.undeclared), err)
				}
				return fail(err)
			}
			// The chain's finishers were collected children first; run
			// them parents first.
			for a, b := 0, len(t.finishers)-1; a < b; a, b = a+1, b-1 {
				t.finishers[a], t.finishers[b] = t.finishers[b], t.finishers[a]
			}
			t.source = inst.Source
			if len(n.Inputs) > 0 {
				in0 := inst.Inputs[0]
				ops := n.Inputs[0].From.Out
				for _, e := range n.Inputs {
					if e.Input == 0 {
						ops = e.From.Out
						break
					}
				}
				t.headWatermark = func(wm int64) { ops.watermark(in0, wm) }
			}
			for _, e := range n.Inputs {
				dst := inst.Inputs[e.Input]
				if dst == nil {
					return fail(fmt.Errorf("engine: operator %q has no input %d", n.Name, e.Input))
				}
				deliver := e.From.Out.deliverer(dst, j.pools[e])
				for a := range chans[e] {
					if c := chans[e][a][t.subtask]; c != nil {
						t.inputs = append(t.inputs, &inChannel{ch: c.ch, deliver: deliver, wm: MinWatermark})
					}
				}
			}
			if t.source == nil && len(t.inputs) == 0 && j.checks == nil {
				return fail(fmt.Errorf("engine: operator %q has neither inputs nor a source", n.Name))
			}
		}
	}
	if len(j.undeclared) > 0 {
		return fail(undeclared(j.undeclared))
	}
	if err := j.restorePending(); err != nil {
		return fail(err)
	}
	return tasks, nil
}

// keyedRestore is the load of one operator subtask's keyed state, deferred
// by instantiate so that the subtasks' loads run in parallel.
type keyedRestore struct {
	src  RestoreSource
	head *Node // the head of the task's chain, which errors name
	node *Node
	inst *Instance
	t    *task
	r    keyspace.Range
}

// run loads the state, turning a panic into a *PanicError, and wraps an
// error with the operator and subtask as a failure to create them.
func (k *keyedRestore) run(logger *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				err = f.err
			} else {
				pe := &PanicError{Value: r, Stack: debug.Stack()}
				logger.Debug("engine: restore panicked", "operator", k.node.Name, "subtask", k.t.subtask+1,
					"panic", fmt.Sprint(r), "stack", string(pe.Stack))
				err = pe
			}
		}
		if err != nil {
			err = fmt.Errorf("engine: creating %s (subtask %d/%d): %w", k.head.Name, k.t.subtask+1, k.t.parallelism, err)
		}
	}()
	return restoreKeyed(k.src, k.node, k.inst, k.r)
}

// restorePending runs the pending keyed restores on up to 4 x GOMAXPROCS
// goroutines (ParallelWidth) and returns the first error. Each restore writes
// only its own operator instance's state, which no other goroutine has seen
// yet, and the RestoreSource is safe for concurrent use (see
// Options.Restore).
func (j *job) restorePending() error {
	pending := j.pending
	j.pending = nil
	// Every subtask at once, up to a bound on the read buffers in use: the
	// restores read files and are as many as the subtasks, often not a
	// multiple of the processors.
	return ParallelWidth(4*runtime.GOMAXPROCS(0), len(pending), func(i int) error { return pending[i].run(j.opts.Logger) })
}

// instantiate creates node n and, recursively, the nodes chained after it,
// for task t.
func (j *job) instantiate(t *task, n *Node, chans map[*Edge][][]*channel) (*Instance, error) {
	p := j.plan
	var outs []any
	for _, e := range n.Outputs {
		if p.Chained[e] {
			child, err := j.instantiate(t, e.To, chans)
			if err != nil {
				return nil, err
			}
			outs = append(outs, child.Inputs[e.Input])
			continue
		}
		row := chans[e][t.subtask]
		var targets []*channel
		for _, c := range row {
			if c != nil {
				targets = append(targets, c)
			}
		}
		w := n.Out.newWriter(p.Partition[e], e.KeyHash, targets, t, j.pools[e])
		t.writers = append(t.writers, w)
		outs = append(outs, w)
	}
	var out any
	if n.Out != nil {
		out = n.Out.fanout(outs)
	}
	ctx := &Context{t: t, node: n}
	src := j.opts.Restore
	restoring := src != nil && src.Has(n.ID) && j.checks == nil
	if restoring {
		lists, err := src.OperatorLists(n.ID, t.subtask, t.parallelism)
		if err != nil {
			return nil, fmt.Errorf("restoring %q: %w", n.Name, err)
		}
		ctx.restored = lists
	}
	inst, err := n.Make(ctx, out)
	if err != nil {
		return nil, err
	}
	// The operator is open: the states it declared are all a restore
	// loads, now or after a failure, so none may be added later.
	if inst.Keyed != nil {
		inst.Keyed.Seal()
	}
	if inst.Operator != nil {
		inst.Operator.Seal()
	}
	if j.checks != nil {
		j.checks[n.ID] = checkStates(src, n, inst)
	}
	if restoring {
		// Close what Make opened if restoring fails.
		fail := func(err error) (*Instance, error) {
			if inst.Close != nil {
				return nil, joinErrors(err, runClosers([]func() error{inst.Close}))
			}
			return nil, err
		}
		if missing := checkDeclared(src, n, inst, j.opts.DropUndeclared); len(missing) > 0 && j.opts.DropUndeclared == nil {
			// build fails once every operator is made, naming them all;
			// from now on no state is restored.
			if !slices.ContainsFunc(j.undeclared, func(u undeclaredOp) bool { return u.node == n }) {
				j.undeclared = append(j.undeclared, undeclaredOp{node: n, t: t, states: missing})
			}
		} else if len(j.undeclared) == 0 {
			if err := restoreLists(src, n, inst, ctx.restored); err != nil {
				return fail(err)
			}
			// The keyed state, the bulk of a snapshot, is loaded by build
			// once every task is built, in parallel with the other
			// subtasks'.
			j.pending = append(j.pending, keyedRestore{src: src, node: n, inst: inst, t: t,
				r: keyspace.RangeOf(t.subtask, t.parallelism)})
		}
	}
	if inst.Finish != nil {
		t.finishers = append(t.finishers, inst.Finish)
		if n.Out == nil {
			t.sinkFinishers = append(t.sinkFinishers, inst.Finish)
		}
	}
	t.ops = append(t.ops, taskOp{node: n, inst: inst})
	if inst.Close != nil {
		t.closers = append(t.closers, inst.Close)
	}
	return inst, nil
}

// Context is what an operator instance sees of its task. Its methods must be
// called from the task's goroutine only.
type Context struct {
	t        *task
	node     *Node
	restored map[string][][]byte
}

// Subtask returns the subtask index, in [0, Parallelism()).
func (c *Context) Subtask() int { return c.t.subtask }

// Parallelism returns the operator's parallelism.
func (c *Context) Parallelism() int { return c.t.parallelism }

// Node returns the operator's node.
func (c *Context) Node() *Node { return c.node }

// Checking reports that the operator is made by Check: it is to declare
// its states and will be closed again without running, so it need not
// open connections, files or readers (sources and sinks do not).
func (c *Context) Checking() bool { return c.t.job.checks != nil }

// Now returns the current processing time in epoch milliseconds.
func (c *Context) Now() int64 { return c.t.job.now() }

// Clock returns the job's clock.
func (c *Context) Clock() Clock { return c.t.job.opts.Clock }

// Logger returns the job's logger.
func (c *Context) Logger() *slog.Logger { return c.t.job.opts.Logger }

// RegisterProcessingTimer calls fn on the task goroutine once processing
// time reaches at (epoch milliseconds).
func (c *Context) RegisterProcessingTimer(at int64, fn func(now int64)) {
	c.t.proc.register(at, fn)
}

// MarkIdle tells downstream tasks not to wait for this subtask's watermarks
// until it emits again. Sources call it when they have nothing to read.
func (c *Context) MarkIdle() {
	if !c.t.idle {
		c.t.flushWriters()
		c.t.setIdle(true)
	}
}
