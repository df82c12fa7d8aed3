package engine

import (
	"context"
	"encoding/binary"
	"fmt"
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
// ends the job with nothing processed after its barrier. An outcome for a
// stop the sources never held at is ignored.
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
	j.ResolveStop(9, false) // no stop 9 in flight: ignored

	if err := j.Trigger(Barrier{ID: 1, Kind: Savepoint, Stop: true}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, snaps, tasks)
	held := sums(t, got, "pos")
	if seen := sums(t, got, "seen"); held == 0 || seen != held {
		t.Fatalf("stop barrier: sources emitted %d before it, sinks saw %d", held, seen)
	}
	j.ResolveStop(1, false) // its savepoint failed

	// The sources read on: a later checkpoint counts more records, and
	// every one of them downstream.
	id := uint64(2)
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
	j.ResolveStop(id-1, true) // an outcome for another stop: still held
	select {
	case n := <-finals:
		t.Fatalf("a sink finished (%d records) before the stop's outcome", n)
	default:
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
