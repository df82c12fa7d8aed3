package engine

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// task runs one chain of operators at one subtask index on one goroutine.
// All fields are owned by that goroutine.
type task struct {
	job         *job
	name        string
	subtask     int
	parallelism int

	inputs  []*inChannel
	notify  chan struct{}
	writers []writer
	source  SourceDriver

	headWatermark func(wm int64)
	wm            int64
	idle          bool

	finishers []func()
	closers   []func() error
	// ops are the chain's operators in chain order.
	ops []taskOp
	// sinkFinishers flush the chain's sinks; all that runs at the end of a
	// stopped job.
	sinkFinishers []func()

	// ctl carries barriers to inject into a source task; stops holds the
	// outcomes of its stops with savepoint (Job.ResolveStop).
	ctl   chan Barrier
	stops *stopOutcomes
	align alignment
	// stopping is set from a stop barrier on, until the job ends or the
	// stop fails: the task then neither moves its watermark nor fires
	// processing-time timers.
	stopping bool
	finished bool

	proc procTimers
	_    CacheLinePad
}

type taskOp struct {
	node *Node
	inst *Instance
}

// inChannel is the consumer's view of one input channel.
type inChannel struct {
	ch      chan message
	deliver func(batch any)
	wm      int64
	idle    bool
	ended   bool
	blocked bool // delivered the barrier being aligned
	// unaligned marks a channel back from idleness whose watermark is
	// behind the task's: it stays out of the minimum until it catches up.
	// Channels start aligned.
	unaligned bool
}

// abortSignal unwinds a task whose job is stopping.
type abortSignal struct{}

// failure unwinds a task with an operator's error.
type failure struct{ err error }

// Fail stops the calling task, and so the job, with err. Operators call it
// from their task's goroutine, typically when a user function returns an
// error.
func Fail(err error) { panic(failure{err}) }

var errAborted = errors.New("engine: task aborted")

// PanicError is the error of a task that panicked: an operator or user
// function called panic with Value. If Value is an error, errors.Is and
// errors.As see it through Unwrap.
type PanicError struct {
	// Value is what panic was called with.
	Value any
	// Stack is the panicking goroutine's stack trace. It is not part of
	// the message; the job logger also receives it at Debug level.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns Value if it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// run runs the task to its end and closes its operators, last first. It
// returns the task's error (errAborted if the job stopped it, a *PanicError
// if it panicked) joined with the errors of Close.
func (t *task) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case abortSignal:
				err = errAborted
			case failure:
				err = v.err
			default:
				pe := &PanicError{Value: r, Stack: debug.Stack()}
				t.job.opts.Logger.Debug("engine: task panicked", "task", t.name, "subtask", t.subtask+1,
					"panic", fmt.Sprint(r), "stack", string(pe.Stack))
				err = pe
			}
		}
		t.proc.stop()
		err = joinErrors(err, runClosers(t.closers))
	}()
	if t.source != nil {
		t.runSource()
	} else {
		t.runInputs()
	}
	return nil
}

// runClosers calls closers last first and returns their errors.
func runClosers(closers []func() error) []error {
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// joinErrors joins err with more, returning a lone error unwrapped.
func joinErrors(err error, more []error) error {
	if len(more) == 0 {
		return err
	}
	if err == nil && len(more) == 1 {
		return more[0]
	}
	return errors.Join(append([]error{err}, more...)...)
}

func (t *task) aborted() bool {
	select {
	case <-t.job.done:
		return true
	default:
		return false
	}
}

func (t *task) runSource() {
	var sleep *time.Timer
	defer func() {
		if sleep != nil {
			sleep.Stop()
		}
	}()
	for {
		if t.aborted() {
			panic(abortSignal{})
		}
		t.pollTimers()
		select {
		case b := <-t.ctl:
			if t.injectBarrier(b) && t.holdAtStop(b.ID) {
				t.finish()
				return
			}
			continue
		default:
		}
		wait, done, err := t.source.Poll()
		if err != nil {
			Fail(err)
		}
		if done {
			t.sourceDone()
			return
		}
		if wait > 0 {
			t.flushWriters()
			if sleep == nil {
				sleep = time.NewTimer(wait)
			} else {
				sleep.Reset(wait)
			}
			select {
			case <-sleep.C:
			case <-t.proc.wake:
				if !sleep.Stop() {
					<-sleep.C
				}
				t.proc.fire(t.job.now())
			case b := <-t.ctl:
				if !sleep.Stop() {
					<-sleep.C
				}
				if t.injectBarrier(b) && t.holdAtStop(b.ID) {
					t.finish()
					return
				}
			case <-t.job.done:
				panic(abortSignal{})
			}
		}
	}
}

// sourceDone finishes a source task whose source has ended. From now on no
// barrier is triggered (job.sourceEnded); one sent before is injected
// first, so that the snapshot it belongs to can complete.
func (t *task) sourceDone() {
	t.job.gate.Lock()
	t.job.sourceEnded = true
	t.job.gate.Unlock()
	for {
		select {
		case b := <-t.ctl:
			if t.injectBarrier(b) && t.holdAtStop(b.ID) {
				t.finish()
				return
			}
		default:
			t.finish()
			return
		}
	}
}

// stopOutcomes holds the outcomes of stops with savepoint a source task
// has not taken yet, by barrier ID: whether the savepoint completed.
type stopOutcomes struct {
	mu   sync.Mutex
	out  map[uint64]bool
	wake chan struct{} // signalled when an outcome is added
}

func newStopOutcomes() *stopOutcomes {
	return &stopOutcomes{out: map[uint64]bool{}, wake: make(chan struct{}, 1)}
}

// holdAtStop holds a source task that has just injected stop barrier id
// until the stop's outcome comes (Job.ResolveStop). It reports whether the
// savepoint completed, and the task must finish; if not, the task has
// resumed, and so have the tasks downstream. The outcome of a later stop
// also ends the hold: that stop was triggered after this one ended, which
// it cannot have done by completing, since it lacked this source's ack.
func (t *task) holdAtStop(id uint64) (completed bool) {
	for {
		s := t.stops
		s.mu.Lock()
		done, ok := s.out[id]
		later := false
		for k := range s.out {
			switch {
			case k < id:
				delete(s.out, k) // a stop this source never held at
			case k > id:
				later = true // kept: the source will hold at it next
			}
		}
		delete(s.out, id)
		s.mu.Unlock()
		if ok || later {
			completed = ok && done
			if !completed {
				t.resume()
			}
			return completed
		}
		select {
		case <-s.wake:
		case <-t.job.done:
			panic(abortSignal{})
		}
	}
}

// resolveStop records the outcome of stop id for the task.
func (t *task) resolveStop(id uint64, completed bool) {
	s := t.stops
	s.mu.Lock()
	s.out[id] = completed
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// resume ends the task's stop after its savepoint failed: it tells the
// tasks downstream (msgResume), takes up the watermarks its channels
// reported meanwhile, and fires the processing-time timers that came due.
func (t *task) resume() {
	t.stopping = false
	for _, w := range t.writers {
		w.control(msgResume, 0)
	}
	if len(t.inputs) > 0 {
		t.updateWatermark()
	}
	t.proc.fire(t.job.now())
}

func (t *task) runInputs() {
	open := len(t.inputs)
	for open > 0 {
		progressed := false
		for _, c := range t.inputs {
			if c.ended || c.blocked {
				continue
			}
			select {
			case m := <-c.ch:
				progressed = true
				t.handle(c, m)
				if c.ended {
					open--
				}
			default:
			}
		}
		t.pollTimers()
		if !progressed && open > 0 {
			t.flushWriters()
			wake := t.proc.wake
			if t.stopping {
				wake = nil // timers wait for the stop's outcome (resume)
			}
			select {
			case <-t.notify:
			case <-wake:
				t.proc.fire(t.job.now())
			case <-t.job.done:
				panic(abortSignal{})
			}
		}
	}
	t.finish()
}

func (t *task) pollTimers() {
	if t.stopping {
		return
	}
	select {
	case <-t.proc.wake:
		t.proc.fire(t.job.now())
	default:
	}
}

func (t *task) handle(c *inChannel, m message) {
	switch m.kind {
	case msgRecords:
		c.deliver(m.batch)
	case msgWatermark:
		c.wm = m.wm
		t.updateWatermark()
	case msgIdle:
		c.idle = true
		t.updateWatermark()
	case msgActive:
		c.idle = false
		// Behind the task's watermark, the channel waits to be aligned
		// (see updateWatermark).
		c.unaligned = c.wm < t.wm
		t.updateWatermark()
	case msgEnd:
		c.ended = true
		t.updateWatermark()
		t.channelEnded(c)
	case msgBarrier:
		t.barrierArrived(c, *m.batch.(*Barrier))
	case msgResume:
		if t.stopping {
			t.resume()
		}
	}
}

// updateWatermark is the task's watermark valve, after Flink's
// StatusWatermarkValve. The task's watermark is the minimum over the
// channels that are active (neither idle nor ended) and aligned; a change is
// passed to the head operator. A channel that comes back from idleness
// behind the task's watermark is not aligned: it rejoins the minimum once
// its watermark reaches the task's, so that the task's watermark never goes
// back and is not held back by it meanwhile.
//
// When the last active channel goes idle, the task first advances its
// watermark to the maximum over its open channels, since none of them will
// move the minimum any more and pending windows would stall, and then is
// idle too and says so downstream. When every channel has ended, the
// watermark is MaxWatermark.
func (t *task) updateWatermark() {
	if t.stopping {
		// After a stop barrier nothing may happen: channels end one by one,
		// and dropping an ended channel from the minimum would raise the
		// watermark and fire windows after the barrier.
		return
	}
	low, high := int64(MaxWatermark), int64(MinWatermark)
	active, aligned, idle := 0, 0, 0
	for _, c := range t.inputs {
		if c.ended {
			continue
		}
		high = max(high, c.wm)
		if c.idle {
			idle++
			continue
		}
		active++
		if c.unaligned {
			if c.wm < t.wm {
				continue
			}
			c.unaligned = false
		}
		aligned++
		low = min(low, c.wm)
	}
	if active == 0 && idle > 0 {
		if !t.idle {
			t.advanceWatermark(high)
			t.setIdle(true)
		}
		return
	}
	if t.idle {
		t.setIdle(false)
	}
	if aligned > 0 || active == 0 {
		t.advanceWatermark(low)
	}
}

// advanceWatermark passes wm to the head operator if it is ahead of the
// task's watermark.
func (t *task) advanceWatermark(wm int64) {
	if wm > t.wm {
		t.wm = wm
		t.headWatermark(wm)
	}
}

func (t *task) setIdle(idle bool) {
	t.idle = idle
	kind := msgActive
	if idle {
		kind = msgIdle
	}
	for _, w := range t.writers {
		w.control(kind, 0)
	}
}

// finish runs when the task's input has ended: operators flush in chain
// order and End goes downstream.
func (t *task) finish() {
	t.finished = true
	if t.stopping {
		// Stopped at a barrier: nothing may happen after it except that
		// sinks make visible what they were given before it.
		for _, f := range t.sinkFinishers {
			f()
		}
		for _, w := range t.writers {
			w.control(msgEnd, 0)
		}
		return
	}
	if t.source == nil && t.wm < MaxWatermark {
		t.wm = MaxWatermark
		t.headWatermark(MaxWatermark)
	}
	for _, f := range t.finishers {
		f()
	}
	for _, w := range t.writers {
		w.control(msgEnd, 0)
	}
}

// injectBarrier puts a barrier into a source task's output; it reports
// whether the source stops there.
func (t *task) injectBarrier(b Barrier) (stop bool) {
	if b.Drain {
		for _, op := range t.ops {
			if op.inst.Drain != nil {
				op.inst.Drain()
			}
		}
	}
	t.onBarrier(b)
	return b.Stop
}

func (t *task) flushWriters() {
	for _, w := range t.writers {
		w.flush()
	}
}

// send puts m on c, blocking while c is full, and wakes c's consumer.
func (t *task) send(c *channel, m message) {
	select {
	case c.ch <- m:
	default:
		select {
		case c.ch <- m:
		case <-t.job.done:
			panic(abortSignal{})
		}
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// procTimers is a task's processing-time timer queue. Callbacks run on the
// task goroutine; one clock timer, armed for the earliest entry, signals the
// task through wake.
type procTimers struct {
	clock Clock
	q     procHeap
	timer Timer
	armed int64
	wake  chan struct{}
	seq   uint64
}

type procEntry struct {
	at  int64
	seq uint64
	fn  func(now int64)
}

type procHeap []procEntry

func (h procHeap) Len() int { return len(h) }
func (h procHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h procHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *procHeap) Push(x any)   { *h = append(*h, x.(procEntry)) }
func (h *procHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (p *procTimers) register(at int64, fn func(now int64)) {
	p.seq++
	heap.Push(&p.q, procEntry{at: at, seq: p.seq, fn: fn})
	p.arm()
}

func (p *procTimers) arm() {
	if len(p.q) == 0 {
		return
	}
	at := p.q[0].at
	if p.timer != nil && p.armed <= at {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.armed = at
	d := time.Duration(at-p.clock.Now().UnixMilli()) * time.Millisecond
	p.timer = p.clock.AfterFunc(d, func() {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	})
}

func (p *procTimers) fire(now int64) {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	for len(p.q) > 0 && p.q[0].at <= now {
		e := heap.Pop(&p.q).(procEntry)
		e.fn(now)
	}
	p.arm()
}

func (p *procTimers) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
