package engine

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime/debug"
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

	// ctl carries barriers to inject into a source task.
	ctl      chan Barrier
	align    alignment
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

func (t *task) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case abortSignal:
				err = errAborted
			case failure:
				err = v.err
			default:
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}
		t.proc.stop()
		for i := len(t.closers) - 1; i >= 0; i-- {
			if cerr := t.closers[i](); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()
	if t.source != nil {
		t.runSource()
	} else {
		t.runInputs()
	}
	return nil
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
			if t.injectBarrier(b) {
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
			t.finish()
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
				if t.injectBarrier(b) {
					t.finish()
					return
				}
			case <-t.job.done:
				panic(abortSignal{})
			}
		}
	}
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
			select {
			case <-t.notify:
			case <-t.proc.wake:
				t.proc.fire(t.job.now())
			case <-t.job.done:
				panic(abortSignal{})
			}
		}
	}
	t.finish()
}

func (t *task) pollTimers() {
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
		t.updateWatermark()
	case msgEnd:
		c.ended = true
		t.updateWatermark()
		t.channelEnded(c)
	case msgBarrier:
		t.barrierArrived(c, *m.batch.(*Barrier))
	}
}

// updateWatermark recomputes the task's input watermark as the minimum over
// channels that are neither idle nor ended, and passes an advance to the
// head operator. When every open channel is idle, the task is idle too and
// says so downstream.
func (t *task) updateWatermark() {
	if t.stopping {
		// After a stop barrier nothing may happen: channels end one by one,
		// and dropping an ended channel from the minimum would raise the
		// watermark and fire windows after the barrier.
		return
	}
	low := int64(MaxWatermark)
	active, idle := 0, 0
	for _, c := range t.inputs {
		switch {
		case c.ended:
		case c.idle:
			idle++
		default:
			active++
			if c.wm < low {
				low = c.wm
			}
		}
	}
	if active == 0 && idle > 0 {
		if !t.idle {
			t.setIdle(true)
		}
		return
	}

	if t.idle {
		t.setIdle(false)
	}
	if low > t.wm {
		t.wm = low
		t.headWatermark(low)
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
