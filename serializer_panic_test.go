package weir_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/state"
)

// explodingInt64 is an int64 serializer that panics while armed.
type explodingInt64 struct{ armed *atomic.Bool }

func (s explodingInt64) Append(dst []byte, v int64) []byte {
	if s.armed.Load() {
		panic("serializer bug")
	}
	return serde.Int64{}.Append(dst, v)
}

func (s explodingInt64) Read(src []byte) (int64, int, error) { return serde.Int64{}.Read(src) }

// lastSeen keeps each key's last value in state serialized by
// explodingInt64.
type lastSeen struct {
	armed *atomic.Bool
	seen  *atomic.Int64
	last  state.Value[int64]
}

func (f *lastSeen) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	f.last, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "last", Serializer: explodingInt64{f.armed}})
	return err
}

func (f *lastSeen) ProcessElement(_ *weir.KeyedContext[int64], v int64, out weir.Collector[int64]) error {
	f.last.Update(v)
	f.seen.Add(1)
	out.Collect(v)
	return nil
}

// explodingJob starts numbers -> lastSeen (keyed by v%10) -> sink at
// parallelism 1, with savepoints going to a new directory; the job is
// cancelled when the test ends. push feeds it from..to-1 and waits until
// lastSeen has seen them all.
type explodingJob struct {
	job   *weir.JobClient
	armed *atomic.Bool
	sink  *memory.Sink[int64]
	push  func(from, to int64)
	dir   string
}

func startExploding(t *testing.T, name string) *explodingJob {
	t.Helper()
	x := &explodingJob{armed: new(atomic.Bool), sink: memory.NewSink[int64](), dir: t.TempDir()}
	seen := new(atomic.Int64)
	src := newPushSource[int64](1)
	env := weir.NewEnvironment(weir.WithParallelism(1), weir.WithSavepointDir(x.dir))
	in := weir.FromSource[int64](env, src, weir.NoWatermarks[int64]()).UID("numbers")
	weir.To(weir.Process(weir.KeyBy(in, func(v int64) int64 { return v % 10 }), &lastSeen{armed: x.armed, seen: seen}).UID("last"), x.sink).UID("out")
	job, err := env.ExecuteAsync(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { job.Cancel(); _ = job.Wait() })
	x.job = job
	x.push = func(from, to int64) {
		t.Helper()
		for i := from; i < to; i++ {
			src.Push(0, i, 0)
		}
		deadline := time.Now().Add(waitTimeout)
		for seen.Load() < to {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d records processed", seen.Load(), to)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return x
}

// TestSerializerPanicFailsSnapshotNotProcess: a serializer that panics
// while the snapshot writer encodes state (off the task goroutine) fails
// that savepoint with an error naming the panic, leaves no savepoint
// directory behind, and leaves the job running: the next savepoint works.
func TestSerializerPanicFailsSnapshotNotProcess(t *testing.T) {
	x := startExploding(t, "exploding")
	x.push(0, 100)
	x.armed.Store(true)
	if _, err := x.job.TriggerSavepoint(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("savepoint with a panicking serializer: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(x.dir, "savepoint-*")); len(left) > 0 {
		t.Errorf("the failed savepoint left %v", left)
	}
	x.armed.Store(false)
	path, err := x.job.TriggerSavepoint(context.Background(), "")
	if err != nil {
		t.Fatalf("savepoint after the failed one: %v", err)
	}
	if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil {
		t.Fatal(err)
	}
}

// TestStopWithSavepointThatFailsGoesOn: a stop with savepoint whose
// savepoint fails returns the error and leaves the job running, as Flink's
// does: records pushed afterwards are processed, and a later stop works. A
// failed stop --drain, after which the final watermark is out, fails the job
// instead.
func TestStopWithSavepointThatFailsGoesOn(t *testing.T) {
	x := startExploding(t, "stop-fails")
	x.push(0, 100)
	x.armed.Store(true)
	if _, err := x.job.StopWithSavepoint(context.Background(), "", false); err == nil || !strings.Contains(err.Error(), "panicked") || !strings.HasSuffix(err.Error(), "; the job goes on") {
		t.Fatalf("stop with a savepoint that fails: %v", err)
	}
	x.push(100, 200) // the job goes on
	x.armed.Store(false)
	if _, err := x.job.StopWithSavepoint(context.Background(), "", false); err != nil {
		t.Fatalf("stop after the failed one: %v", err)
	}
	if err := x.job.Wait(); err != nil {
		t.Fatalf("the stopped job: %v", err)
	}
	if got := len(x.sink.Results()); got != 200 {
		t.Fatalf("the sink got %d records, want 200", got)
	}

	// Drained, the job cannot go on.
	d := startExploding(t, "drain-fails")
	d.push(0, 10)
	d.armed.Store(true)
	if _, err := d.job.StopWithSavepoint(context.Background(), "", true); err == nil || !strings.HasSuffix(err.Error(), "; the job fails: its final watermark is out") {
		t.Fatalf("stop --drain with a savepoint that fails: %v", err)
	}
	if err := d.job.Wait(); err == nil || !strings.Contains(err.Error(), "stop --drain failed after the final watermark") {
		t.Fatalf("the job after a failed stop --drain: %v", err)
	}
}
