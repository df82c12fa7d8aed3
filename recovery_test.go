package weir_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/examples/orders/orders"
	"github.com/weirstream/weir/window"
)

var tumbling10s = window.TumblingEventTime(10 * time.Second)

// buildOrdersFailingOnce is the orders job with a map that fails the job
// the first time it sees order failAt.
func buildOrdersFailingOnce(env *weir.Environment, sink *memory.Sink[string], n, rate, failAt int64, failed *atomic.Bool) error {
	cfg := orders.DefaultConfig()
	cfg.Orders, cfg.Rate = n, rate
	src, err := orders.NewSource(cfg)
	if err != nil {
		return err
	}
	s := weir.FromSource(env, src, weir.BoundedOutOfOrderness[orders.Order](2*time.Second).
		WithTimestampAssigner(func(o orders.Order, _ int64) int64 { return o.CreateTS })).UID("orders-source")
	s = weir.Map(s, func(o orders.Order) orders.Order {
		if o.OrderID == fmt.Sprintf("order-%d", failAt) && failed.CompareAndSwap(false, true) {
			panic(errors.New("injected failure"))
		}
		return o
	})
	counts := weir.WindowAggregateProcess(weir.KeyBy(s, func(o orders.Order) string { return o.UserID }).Window(tumbling10s), countOrders{},
		func(user string, w window.TimeWindow, n int64, out weir.Collector[string]) error {
			out.Collect(fmt.Sprintf("%s %d %d", user, w.Start, n))
			return nil
		}).UID("counts")
	weir.To(counts, sink).UID("sink")
	return nil
}

// TestRecoveryFromLatestCheckpoint: a job that fails mid-stream restarts
// from its latest completed checkpoint and loses no state: every result of
// the recovered run is one the uninterrupted run produces, and none is
// missing (results emitted between the checkpoint and the failure may be
// emitted twice: the sink is at-least-once).
func TestRecoveryFromLatestCheckpoint(t *testing.T) {
	const n, rate, failAt = 20_000, 40_000, 12_000
	var never atomic.Bool
	never.Store(true)
	ref := memory.NewSink[string]()
	envRef := weir.NewEnvironment(weir.WithParallelism(2))
	if err := buildOrdersFailingOnce(envRef, ref, n, 0, failAt, &never); err != nil {
		t.Fatal(err)
	}
	if err := envRef.Execute(context.Background(), "reference"); err != nil {
		t.Fatal(err)
	}
	want := distinct(ref.Results())

	dir := t.TempDir()
	var failed atomic.Bool
	sink := memory.NewSink[string]()
	env := weir.NewEnvironment(weir.WithParallelism(2), weir.WithCheckpointDir(dir),
		weir.WithCheckpointInterval(20*time.Millisecond), weir.WithRetainedCheckpoints(2),
		weir.WithRestartStrategy(2, 10*time.Millisecond))
	if err := buildOrdersFailingOnce(env, sink, n, rate, failAt, &failed); err != nil {
		t.Fatal(err)
	}
	job, err := env.ExecuteAsync(context.Background(), "recovering")
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Wait(); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() || job.Restarts() != 1 {
		t.Fatalf("failed=%v restarts=%d, want one failure and one restart", failed.Load(), job.Restarts())
	}
	if got := distinct(sink.Results()); !slices.Equal(got, want) {
		t.Fatalf("recovered results %d distinct, want %d: %v", len(got), len(want), diff(got, want))
	}
	// Old checkpoints are disposed of: at most the retained ones remain.
	chks, _ := filepath.Glob(filepath.Join(dir, job.ID(), "chk-*"))
	if len(chks) > 2 {
		t.Fatalf("%d checkpoints left, want at most 2 retained: %v", len(chks), chks)
	}
	for _, c := range chks {
		if _, err := os.Stat(filepath.Join(c, "_metadata")); err != nil {
			t.Fatalf("retained checkpoint %s is incomplete", c)
		}
	}
}

func distinct(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

type countOrders struct{}

func (countOrders) CreateAccumulator() int64            { return 0 }
func (countOrders) Add(_ orders.Order, acc int64) int64 { return acc + 1 }
func (countOrders) Result(acc int64) int64              { return acc }
func (countOrders) Merge(a, b int64) int64              { return a + b }
