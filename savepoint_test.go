package weir_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/examples/nexmark/queries"
	"github.com/weirstream/weir/examples/orders/orders"
	"github.com/weirstream/weir/state"
)

func ordersCase(n, rate int64) oracleCase {
	return oracleCase{name: "orders", build: func(env *weir.Environment, sink weir.Sink[string]) error {
		cfg := orders.DefaultConfig()
		cfg.Orders, cfg.Rate = n, rate
		s, err := orders.Build(env, cfg)
		return attach(s, err, sink)
	}}
}

// TestSavepointFilesOracle is the oracle over real savepoint files: stop
// with a savepoint into a directory, move the savepoint somewhere else,
// resume from it at another parallelism.
func TestSavepointFilesOracle(t *testing.T) {
	cases := []oracleCase{ordersCase(20_000, 200_000), nexmarkCase("q5", 150_000, 1_500_000, formattedQ5)}
	for _, c := range cases {
		want := runToEnd(t, c, 2)
		for _, pp := range [][2]int{{2, 3}, {3, 1}} {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				env1 := weir.NewEnvironment(weir.WithParallelism(pp[0]), weir.WithSavepointDir(filepath.Join(dir, "savepoints")))
				sink1 := memory.NewSink[string]()
				if err := c.build(env1, sink1); err != nil {
					t.Fatal(err)
				}
				job, err := env1.ExecuteAsync(context.Background(), c.name)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
				path, err := job.StopWithSavepoint(context.Background(), "", false)
				if err != nil {
					t.Skipf("stop with savepoint: %v (the job may have ended first)", err)
				}
				if !strings.HasPrefix(filepath.Base(path), "savepoint-"+job.ID()[:6]+"-") {
					t.Fatalf("savepoint directory %q is not savepoint-<job id prefix>-<random>", path)
				}
				moved := filepath.Join(dir, "elsewhere", "sp")
				if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path, moved); err != nil {
					t.Fatal(err)
				}
				env2 := weir.NewEnvironment(weir.WithParallelism(pp[1]), weir.FromSavepoint(filepath.Join(moved, "_metadata")))
				sink2 := memory.NewSink[string]()
				if err := c.build(env2, sink2); err != nil {
					t.Fatal(err)
				}
				if err := env2.Execute(context.Background(), c.name); err != nil {
					t.Fatal(err)
				}
				got := append(sink1.Results(), sink2.Results()...)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("p%d->p%d: %d results, want %d: %v", pp[0], pp[1], len(got), len(want), diff(got, want))
				}
			})
		}
	}
}

var formattedQ5 = formatted(queries.Q5)

func TestSavepointNeedsADirectory(t *testing.T) {
	env := weir.NewEnvironment()
	if err := ordersCase(0, 1000).build(env, memory.NewSink[string]()); err != nil {
		t.Fatal(err)
	}
	job, err := env.ExecuteAsync(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { job.Cancel(); _ = job.Wait() }()
	if _, err := job.TriggerSavepoint(context.Background(), ""); !errors.Is(err, weir.ErrNoSavepointDir) {
		t.Fatalf("TriggerSavepoint without a directory: %v", err)
	}
	// A directory that cannot be made fails before any barrier, and a stop
	// into it leaves the job running.
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		if _, err := job.TriggerSavepoint(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "cannot write a savepoint into "+dir) {
			t.Fatalf("TriggerSavepoint into %s: %v", dir, err)
		}
		if _, err := job.StopWithSavepoint(context.Background(), dir, true); err == nil || !strings.Contains(err.Error(), "give a directory") {
			t.Fatalf("StopWithSavepoint into %s: %v", dir, err)
		}
	}
	path, err := job.TriggerSavepoint(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil {
		t.Fatalf("savepoint has no _metadata: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".weir-write-check-*")); len(left) > 0 {
		t.Fatalf("the directory check left %v", left)
	}
}

// TestRestoreMatchesOperatorsByID: state of an operator the new job does
// not have fails the restore, naming it, unless allowed; then it is skipped
// and listed.
func TestRestoreMatchesOperatorsByID(t *testing.T) {
	dir := t.TempDir()
	build := func(env *weir.Environment, sink *memory.Sink[string], withCounter bool) {
		src := weir.FromSource(env, memory.NewSource([]int{1, 2, 3, 4, 5}, memory.WithPacing[int](1, time.Millisecond)), weir.NoWatermarks[int]()).UID("numbers")
		out := weir.Map(src, func(v int) string { return "n" })
		if withCounter {
			out = weir.Map(weir.KeyBy(src, func(v int) int { return v % 2 }).Reduce(func(a, b int) int { return a + b }).UID("running-sum").Name("sum"),
				func(v int) string { return "s" })
		}
		weir.To(out, sink).UID("sink")
	}
	env1 := weir.NewEnvironment(weir.WithSavepointDir(dir))
	build(env1, memory.NewSink[string](), true)
	job, err := env1.ExecuteAsync(context.Background(), "with-sum")
	if err != nil {
		t.Fatal(err)
	}
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}

	env2 := weir.NewEnvironment(weir.FromSavepoint(path))
	build(env2, memory.NewSink[string](), false)
	err = env2.Execute(context.Background(), "without-sum")
	if err == nil || !strings.Contains(err.Error(), `uid running-sum, name "sum"`) || !strings.Contains(err.Error(), "allow-non-restored-state") {
		t.Fatalf("restore without the stateful operator: %v", err)
	}

	env3 := weir.NewEnvironment(weir.FromSavepoint(path, weir.AllowNonRestoredState()))
	build(env3, memory.NewSink[string](), false)
	job3, err := env3.ExecuteAsync(context.Background(), "without-sum")
	if err != nil {
		t.Fatal(err)
	}
	if err := job3.Wait(); err != nil {
		t.Fatal(err)
	}
	if sk := job3.Skipped(); len(sk) != 1 || sk[0].UID != "running-sum" {
		t.Fatalf("skipped %v", sk)
	}
}

func TestRestoreFromCorruptSavepoint(t *testing.T) {
	dir := t.TempDir()
	env := weir.NewEnvironment(weir.WithSavepointDir(dir))
	if err := ordersCase(0, 1000).build(env, memory.NewSink[string]()); err != nil {
		t.Fatal(err)
	}
	job, err := env.ExecuteAsync(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(path, "_metadata")
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(md, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env2 := weir.NewEnvironment(weir.FromSavepoint(path))
	if err := ordersCase(0, 1000).build(env2, memory.NewSink[string]()); err != nil {
		t.Fatal(err)
	}
	err = env2.Execute(context.Background(), "orders")
	if err == nil || !strings.Contains(err.Error(), "_metadata") || !strings.Contains(err.Error(), "the snapshot is damaged: restore from another savepoint") {
		t.Fatalf("restore from a corrupt savepoint: %v", err)
	}
	if _, err := os.Stat(md); err != nil {
		t.Fatalf("the savepoint was damaged further: %v", err)
	}

	env3 := weir.NewEnvironment(weir.FromSavepoint(filepath.Join(dir, "no-such-savepoint")))
	if err := ordersCase(0, 1000).build(env3, memory.NewSink[string]()); err != nil {
		t.Fatal(err)
	}
	if err := env3.Execute(context.Background(), "orders"); err == nil || !strings.Contains(err.Error(), "no-such-savepoint") {
		t.Fatalf("restore from a missing path: %v", err)
	}
}

// TestSavepointQueuedBehindCheckpoint: a savepoint or stop requested while a
// periodic checkpoint is in flight waits for it and then completes, as in
// Flink, instead of failing because another snapshot is in progress. With
// checkpoints every millisecond nearly every request lands on one.
func TestSavepointQueuedBehindCheckpoint(t *testing.T) {
	src := newPushSource[int64](1)
	rec := newListRecorder()
	env := newEnv(weir.WithCheckpointDir(t.TempDir()), weir.WithCheckpointInterval(time.Millisecond))
	sink := listJob(env, 1, src, state.EvenSplit, rec)
	job, err := env.ExecuteAsync(context.Background(), "queued")
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1)
	for i := range 20 {
		src.Push(0, int64(i), int64(i))
		sink.WaitLen(t, i+1)
		path, err := job.TriggerSavepoint(context.Background(), t.TempDir())
		if err != nil {
			t.Fatalf("savepoint %d: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil {
			t.Fatalf("savepoint %d is not complete: %v", i, err)
		}
	}
	path, err := job.StopWithSavepoint(context.Background(), t.TempDir(), false)
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	if len(job.LatestCheckpoint()) == 0 {
		t.Fatal("no periodic checkpoint completed meanwhile")
	}
	// The last savepoint holds every element the job saw.
	if got := restoredLists(t, path, 1, state.EvenSplit)[0]; len(got) != 20 {
		t.Fatalf("restored %v, want the 20 elements", got)
	}
}
