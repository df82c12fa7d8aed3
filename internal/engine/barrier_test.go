package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/serde"
)

// posSource emits 1, 2, 3, ... forever, a few per poll, and keeps how many
// it has emitted in operator state "pos".
type posSource struct {
	out  Output[int64]
	v    int64
	n    int64
	pos  *opstate.List[int64]
	wait time.Duration
	// started is signalled after the first poll.
	started chan<- struct{}
}

func (s *posSource) Poll() (time.Duration, bool, error) {
	if s.n == 0 && s.started != nil {
		s.started <- struct{}{}
	}
	for i := 0; i < 7; i++ {
		s.n++
		s.v = s.n
		s.out.Collect(s.n, &s.v)
	}
	return s.wait, false, nil
}

// countOp counts records into operator state "count".
type countOp struct {
	n     int64
	count *opstate.List[int64]
	out   Output[int64] // nil for the sink
}

func (c *countOp) Collect(ts int64, v *int64) {
	c.n++
	if c.out != nil {
		c.out.Collect(ts, v)
	}
}

func (c *countOp) Watermark(wm int64) {
	if c.out != nil {
		c.out.Watermark(wm)
	}
}

func counterState(t *testing.T, b *opstate.Backend, name string) *opstate.List[int64] {
	l, err := opstate.NewList(b, name, opstate.EvenSplit, serde.Int64{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cutJob builds posSource(p) -rebalance-> count(q) -> count sink(q).
func cutJob(t *testing.T, p, q int, finals chan<- int64, started chan<- struct{}) []*Node {
	src := &Node{Name: "src", Kind: "source", Parallelism: p, Out: TypeOf[int64]()}
	src.Make = func(ctx *Context, out any) (*Instance, error) {
		ops := opstate.New()
		s := &posSource{out: out.(Output[int64]), pos: counterState(t, ops, "pos"), wait: 100 * time.Microsecond, started: started}
		return &Instance{Source: s, Operator: ops, BeforeSnapshot: func() error { s.pos.Update([]int64{s.n}); return nil }}, nil
	}
	cnt := &Node{Name: "count", Kind: "map", Parallelism: q, Out: TypeOf[int64]()}
	cnt.Make = func(ctx *Context, out any) (*Instance, error) {
		ops := opstate.New()
		c := &countOp{count: counterState(t, ops, "count"), out: out.(Output[int64])}
		return &Instance{Inputs: [2]any{c}, Operator: ops, BeforeSnapshot: func() error { c.count.Update([]int64{c.n}); return nil }}, nil
	}
	sink := &Node{Name: "sink", Kind: "sink", Parallelism: q}
	sink.Make = func(ctx *Context, _ any) (*Instance, error) {
		ops := opstate.New()
		c := &countOp{count: counterState(t, ops, "seen")}
		return &Instance{Inputs: [2]any{c}, Operator: ops,
			BeforeSnapshot: func() error { c.count.Update([]int64{c.n}); return nil },
			Finish:         func() { finals <- c.n }}, nil
	}
	Connect(src, cnt, 0, PartitionRebalance, nil)
	Connect(cnt, sink, 0, PartitionForward, nil)
	sink.ChainingDisabled = true
	return []*Node{src, cnt, sink}
}

func decodeInt64(t *testing.T, b []byte) int64 {
	t.Helper()
	if len(b) != 8 {
		t.Fatalf("element of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b))
}

// sums adds the operator list named name over every task snapshot.
func sums(t *testing.T, snaps []TaskSnapshot, name string) int64 {
	var s int64
	for _, ts := range snaps {
		for _, op := range ts.Operators {
			for _, l := range op.Operator {
				if l.Name == name {
					for _, e := range l.Elements {
						s += decodeInt64(t, e)
					}
				}
			}
		}
	}
	return s
}

func collect(t *testing.T, ch <-chan TaskSnapshot, n int) []TaskSnapshot {
	t.Helper()
	var out []TaskSnapshot
	for len(out) < n {
		select {
		case s := <-ch:
			out = append(out, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d task snapshots", len(out), n)
		}
	}
	return out
}

// TestBarriersCutConsistently checks the heart of the protocol: with aligned
// barriers, every record a source emitted before its barrier — and no other
// — has been counted by every downstream operator at that barrier.
func TestBarriersCutConsistently(t *testing.T) {
	for _, pq := range [][2]int{{1, 1}, {2, 3}, {3, 2}} {
		t.Run(fmt.Sprint(pq), func(t *testing.T) {
			snaps := make(chan TaskSnapshot, 64)
			finals := make(chan int64, 8)
			started := make(chan struct{}, 8)
			j, err := Start(context.Background(), cutJob(t, pq[0], pq[1], finals, started), Options{OnSnapshot: func(s TaskSnapshot) { snaps <- s }})
			if err != nil {
				t.Fatal(err)
			}
			<-started // so that the first barrier has records before it
			tasks := j.Tasks()
			for id := uint64(1); id <= 5; id++ {
				if err := j.Trigger(Barrier{ID: id, Kind: Checkpoint}); err != nil {
					t.Fatal(err)
				}
				got := collect(t, snaps, tasks)
				for _, s := range got {
					if s.Barrier.ID != id {
						t.Fatalf("snapshot of barrier %d while waiting for %d", s.Barrier.ID, id)
					}
				}
				emitted, counted, seen := sums(t, got, "pos"), sums(t, got, "count"), sums(t, got, "seen")
				if emitted == 0 || emitted != counted || counted != seen {
					t.Fatalf("barrier %d: sources emitted %d, counted %d, sinks saw %d", id, emitted, counted, seen)
				}
			}
			// Stop with a savepoint: the job ends once the savepoint
			// completes, and nothing is processed after the barrier.
			if err := j.Trigger(Barrier{ID: 6, Kind: Savepoint, Stop: true}); err != nil {
				t.Fatal(err)
			}
			got := collect(t, snaps, tasks)
			j.ResolveStop(6, true)
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			var final int64
			for i := 0; i < pq[1]; i++ {
				final += <-finals
			}
			if emitted, seen := sums(t, got, "pos"), sums(t, got, "seen"); emitted != seen || final != seen {
				t.Fatalf("stop: sources emitted %d before the barrier, sinks saw %d at it and %d in the end", emitted, seen, final)
			}
			if err := j.Trigger(Barrier{ID: 7}); err == nil {
				t.Fatal("Trigger on a stopped job succeeded")
			}
		})
	}
}

// TestStopThatFailsResumes: sources hold at a stop barrier until they learn
// whether its savepoint completed. If it did not, they read on, the job
// continues and later barriers cut it consistently; a stop that completes
// ends the job with nothing processed after its barrier. The outcome of an
// earlier stop, which the sources never held at, is ignored.
func TestStopThatFailsResumes(t *testing.T) {
	snaps := make(chan TaskSnapshot, 64)
	finals := make(chan int64, 8)
	started := make(chan struct{}, 8)
	j, err := Start(context.Background(), cutJob(t, 2, 3, finals, started), Options{OnSnapshot: func(s TaskSnapshot) { snaps <- s }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		j.Cancel()
		_ = j.Wait()
	}()
	<-started
	tasks := j.Tasks()
	j.ResolveStop(3, false) // the outcome of an earlier stop: ignored

	if err := j.Trigger(Barrier{ID: 10, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, snaps, tasks)
	held := sums(t, got, "pos")
	if seen := sums(t, got, "seen"); held == 0 || seen != held {
		t.Fatalf("stop barrier: sources emitted %d before it, sinks saw %d", held, seen)
	}
	j.ResolveStop(10, false) // its savepoint failed

	// The sources read on: a later checkpoint counts more records, and
	// every one of them downstream.
	id := uint64(11)
	for emitted := held; emitted == held; id++ {
		if id > 10000 {
			t.Fatalf("the sources emitted nothing after the failed stop (%d barriers)", id)
		}
		if err := j.Trigger(Barrier{ID: id, Kind: Checkpoint}); err != nil {
			t.Fatalf("checkpoint after the failed stop: %v", err)
		}
		got = collect(t, snaps, tasks)
		emitted = sums(t, got, "pos")
		if seen := sums(t, got, "seen"); seen != emitted || emitted < held {
			t.Fatalf("barrier %d after the failed stop: sources emitted %d, sinks saw %d (%d at the stop)", id, emitted, seen, held)
		}
	}

	if err := j.Trigger(Barrier{ID: id, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	got = collect(t, snaps, tasks)
	j.ResolveStop(id-1, true) // the outcome of an earlier barrier: still held
	select {
	case n := <-finals:
		t.Fatalf("a sink finished (%d records) before the stop's outcome", n)
	case <-time.After(50 * time.Millisecond):
	}
	j.ResolveStop(id, true)
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	var final int64
	for range 3 {
		final += <-finals
	}
	if emitted, seen := sums(t, got, "pos"), sums(t, got, "seen"); emitted != seen || final != seen {
		t.Fatalf("stop: sources emitted %d before the barrier, sinks saw %d at it and %d in the end", emitted, seen, final)
	}
}

// TestTriggerAfterPartialFinish: once a source has ended, a snapshot can no
// longer cover the job.
func TestTriggerAfterPartialFinish(t *testing.T) {
	var finals = make(chan int64, 8)
	nodes := cutJob(t, 1, 1, finals, nil)
	j, err := Start(context.Background(), nodes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Cancel()
	_ = j.Wait()
	if err := j.Trigger(Barrier{ID: 1}); err == nil {
		t.Fatal("Trigger after cancel succeeded")
	}
}

// heldSource emits 1, 2, 3, ... a few per poll once open is closed; its
// first poll blocks until then. With end set it ends at its first poll
// instead. It keeps how many it emitted in operator state "pos".
type heldSource struct {
	posSource
	open <-chan struct{}
	end  bool
}

func (s *heldSource) Poll() (time.Duration, bool, error) {
	<-s.open
	if s.end {
		return 0, true, nil
	}
	return s.posSource.Poll()
}

// heldJob is cutJob(1, 1) with a heldSource.
func heldJob(t *testing.T, open <-chan struct{}, end bool, finals chan<- int64) []*Node {
	nodes := cutJob(t, 1, 1, finals, nil)
	nodes[0].Make = func(ctx *Context, out any) (*Instance, error) {
		ops := opstate.New()
		s := &heldSource{posSource: posSource{out: out.(Output[int64]), pos: counterState(t, ops, "pos"), wait: 100 * time.Microsecond}, open: open, end: end}
		return &Instance{Source: s, Operator: ops, BeforeSnapshot: func() error { s.pos.Update([]int64{s.n}); return nil }}, nil
	}
	return nodes
}

// startHeld starts heldJob, whose source waits for open to be closed
// (and then ends if end is set), with its task snapshots sent to snaps;
// the job is cancelled when the test ends.
func startHeld(t *testing.T, end bool) (j *Job, snaps chan TaskSnapshot, open chan struct{}) {
	snaps = make(chan TaskSnapshot, 64)
	open = make(chan struct{})
	j, err := Start(context.Background(), heldJob(t, open, end, make(chan int64, 8)), Options{OnSnapshot: func(s TaskSnapshot) { snaps <- s }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		j.Cancel()
		_ = j.Wait()
	})
	return j, snaps, open
}

// TestStopOutcomesOutOfOrder: a source busy in a poll while two stops are
// triggered and both fail learns both outcomes once it gets to the
// barriers, in order, and reads on; the job then checkpoints and stops.
func TestStopOutcomesOutOfOrder(t *testing.T) {
	j, snaps, open := startHeld(t, false)
	for _, id := range []uint64{1, 2} {
		if err := j.Trigger(Barrier{ID: id, Kind: Savepoint, Stop: true}); err != nil {
			t.Fatal(err)
		}
		j.ResolveStop(id, false) // failed before the source even saw it
	}
	close(open)
	tasks := j.Tasks()
	per := map[uint64]int{}
	for _, s := range collect(t, snaps, 2*tasks) {
		per[s.Barrier.ID]++
	}
	if per[1] != tasks || per[2] != tasks {
		t.Fatalf("task snapshots by barrier %v, want %d of barriers 1 and 2", per, tasks)
	}
	id := uint64(3)
	for emitted := int64(0); emitted == 0; id++ {
		if id > 10000 {
			t.Fatal("the source emitted nothing after the failed stops")
		}
		if err := j.Trigger(Barrier{ID: id, Kind: Checkpoint}); err != nil {
			t.Fatalf("checkpoint %d after the failed stops: %v", id, err)
		}
		emitted = sums(t, collect(t, snaps, tasks), "pos")
	}
	if err := j.Trigger(Barrier{ID: id, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	collect(t, snaps, tasks)
	j.ResolveStop(id, true)
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSourceEndingWithBarrierPending: a source that ends with a barrier
// already sent to it injects it first, so that its snapshot completes
// (a stop's, too, which then ends the job); once a source is ending, no
// barrier is triggered.
func TestSourceEndingWithBarrierPending(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprint("stop=", stop), func(t *testing.T) {
			j, snaps, open := startHeld(t, true)
			if err := j.Trigger(Barrier{ID: 1, Kind: Savepoint, Stop: stop}); err != nil {
				t.Fatal(err)
			}
			close(open) // the source ends at its poll, the barrier still queued
			collect(t, snaps, j.Tasks())
			if stop {
				j.ResolveStop(1, true)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			if err := j.Trigger(Barrier{ID: 2}); err == nil {
				t.Fatal("Trigger after the source ended succeeded")
			}
		})
	}
}

// TestHeldStopFiresNoTimers: a task downstream of a stop barrier fires no
// processing-time timer while the stop is unresolved, even when one comes
// due; if the stop fails, the timer fires once the task resumes.
func TestHeldStopFiresNoTimers(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1000)}
	snaps := make(chan TaskSnapshot, 64)
	finals := make(chan int64, 8)
	started := make(chan struct{}, 8)
	var fired atomic.Bool
	nodes := cutJob(t, 1, 1, finals, started)
	sink := nodes[2]
	makeSink := sink.Make
	sink.Make = func(ctx *Context, out any) (*Instance, error) {
		ctx.RegisterProcessingTimer(ctx.Now()+1000, func(int64) { fired.Store(true) })
		return makeSink(ctx, out)
	}
	j, err := Start(context.Background(), nodes, Options{Clock: clock, OnSnapshot: func(s TaskSnapshot) { snaps <- s }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		j.Cancel()
		_ = j.Wait()
	}()
	<-started
	if err := j.Trigger(Barrier{ID: 1, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	collect(t, snaps, j.Tasks()) // every task is past the barrier
	clock.advance(2 * time.Second)
	time.Sleep(50 * time.Millisecond) // time for a wrongly fired timer to show
	if fired.Load() {
		t.Fatal("a processing-time timer fired after the stop barrier, before the stop's outcome")
	}
	j.ResolveStop(1, false)
	for deadline := time.Now().Add(10 * time.Second); !fired.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the timer did not fire after the failed stop resumed the job")
		}
	}
}
