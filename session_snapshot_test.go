package weir_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/window"
)

// TestSessionSnapshotAfterInPlaceMerge takes a savepoint without
// stopping a session-window job, lets the job merge sessions after the
// barrier, and only then reads the views (as a slow writer would), then
// restores and replays the post-barrier record. collectMerging compacts the
// []sessionPair it got from sessions.Get() in place, so the read must have
// settled the shard: the snapshot holds the session list of the barrier.
func TestSessionSnapshotAfterInPlaceMerge(t *testing.T) {
	before := []kv{{"a", 0, 1}, {"a", 1500, 1}, {"a", 5000, 1}}
	after := []kv{{"a", 900, 1}} // bridges [0,1000) and [1500,2500)

	build := func(env *weir.Environment, src *pushSource[kv], added chan string, sink weir.Sink[string]) {
		counts := weir.WindowAggregateProcess(
			weir.KeyBy(weir.FromSource[kv](env, resumablePush{src}, weir.NoWatermarks[kv]()), kvKey).Window(window.EventTimeSession(time.Second)),
			notifyCount{added}, aggLabel[string, int64])
		weir.To(counts, sink)
	}
	push := func(t *testing.T, src *pushSource[kv], added chan string, recs []kv) {
		for _, r := range recs {
			src.Push(0, r, r.TS)
			select {
			case <-added:
			case <-time.After(waitTimeout):
				t.Fatal("record never reached the window operator")
			}
		}
	}
	run := func(t *testing.T, readLate bool) []string {
		env1 := newEnv(weir.WithParallelism(1))
		src1 := newPushSource[kv](1)
		added1 := make(chan string, 100)
		build(env1, src1, added1, memory.NewSink[string]())
		snaps := make(chan engine.TaskSnapshot, 64)
		job, err := weir.StartJob(env1, context.Background(), func(s engine.TaskSnapshot) { snaps <- s }, nil)
		if err != nil {
			t.Fatal(err)
		}
		push(t, src1, added1, before)
		if err := job.Trigger(engine.Barrier{ID: 1, Kind: engine.Savepoint}); err != nil {
			t.Fatal(err)
		}
		var got []engine.TaskSnapshot
		for len(got) < job.Tasks() {
			select {
			case s := <-snaps:
				got = append(got, s)
			case <-time.After(waitTimeout):
				t.Fatal("snapshots missing")
			}
		}
		var mem *engine.MemorySnapshot
		if !readLate {
			if mem, err = engine.NewMemorySnapshot(got); err != nil {
				t.Fatal(err)
			}
		}
		push(t, src1, added1, after) // after the barrier
		if readLate {
			if mem, err = engine.NewMemorySnapshot(got); err != nil {
				t.Fatal(err)
			}
		}
		src1.CloseAll()
		if err := job.Wait(); err != nil {
			t.Fatal(err)
		}

		env2 := newEnv(weir.WithParallelism(1))
		src2 := newPushSource[kv](1)
		added2 := make(chan string, 100)
		sink2 := memory.NewSink[string]()
		build(env2, src2, added2, sink2)
		job2, err := weir.StartJob(env2, context.Background(), nil, mem)
		if err != nil {
			t.Fatal(err)
		}
		push(t, src2, added2, after) // replayed
		src2.CloseAll()
		if err := job2.Wait(); err != nil {
			t.Fatal(err)
		}
		res := sink2.Results()
		slices.Sort(res)
		return res
	}
	want := []string{"a [0, 2500) 3", "a [5000, 6000) 1"}
	for _, late := range []bool{false, true} {
		name := "views-read-at-once"
		if late {
			name = "views-read-after-the-merge"
		}
		t.Run(name, func(t *testing.T) {
			if got := run(t, late); !slices.Equal(got, want) {
				t.Errorf("resumed run produced %q, want %q", got, want)
			}
		})
	}
}

// resumablePush is a pushSource whose readers report their splits, so that
// a job restored from a snapshot reads the same splits.
type resumablePush struct{ *pushSource[kv] }

func (s resumablePush) NewReader(c weir.SourceContext) (weir.SourceReader[kv], error) {
	r, err := s.pushSource.NewReader(c)
	return resumableReader{r.(*pushReader[kv])}, err
}

type resumableReader struct{ *pushReader[kv] }

func (r resumableReader) SnapshotSplits() ([][]byte, error) { return [][]byte{{0}}, nil }
