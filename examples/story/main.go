// Command story runs the story of the savepoint documents end to end, in
// one process:
//
//  1. run version 1 of the orders job (per-user order counts in 10 s
//     event-time windows) at parallelism 2;
//
//  2. take a savepoint and stop the job at it;
//
//  3. start version 2 — upgraded with a new stateful operator, a running
//     total per user — from the savepoint at parallelism 3;
//
//  4. check that the window counts of both runs together are exactly those
//     of one uninterrupted run — nothing lost, nothing counted twice — and
//     that the new operator, which started empty, totals exactly the
//     window counts since the upgrade.
//
//     go run ./examples/story
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/examples/orders/orders"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "story:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("story", flag.ContinueOnError)
	n := fs.Int64("orders", 30_000, "orders in the stream")
	rate := fs.Int64("rate", 20_000, "orders per second (wall clock)")
	after := fs.Duration("stop-after", 700*time.Millisecond, "how long version 1 runs before the savepoint")
	dir := fs.String("dir", "", "savepoint directory (default: a temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "weir-story-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = filepath.Join(tmp, "savepoints")
	}
	cfg := orders.DefaultConfig()
	cfg.Orders, cfg.Rate = *n, *rate
	ctx := context.Background()

	fmt.Println("== version 1, parallelism 2")
	env1 := weir.NewEnvironment(weir.WithParallelism(2), weir.WithSavepointDir(*dir))
	v1 := memory.NewSink[orders.UserCount]()
	if err := buildV1(env1, cfg, v1); err != nil {
		return err
	}
	job, err := env1.ExecuteAsync(ctx, "orders-v1")
	if err != nil {
		return err
	}
	time.Sleep(*after)
	path, err := job.StopWithSavepoint(ctx, "", false)
	if err != nil {
		return fmt.Errorf("stop with savepoint: %w", err)
	}
	r1 := v1.Results()
	show("v1", r1)
	fmt.Printf("== stopped job %s with savepoint %s\n", job.ID(), path)

	fmt.Println("== version 2 (adds a running total per user), parallelism 3, from the savepoint")
	env2 := weir.NewEnvironment(weir.WithParallelism(3), weir.FromSavepoint(path))
	v2 := memory.NewSink[orders.UserCount]()
	totals := memory.NewSink[string]()
	if err := buildV2(env2, cfg, v2, totals); err != nil {
		return err
	}
	if err := env2.Execute(ctx, "orders-v2"); err != nil {
		return err
	}
	r2 := v2.Results()
	show("v2", r2)
	// The new operator's state started empty at the upgrade: each user's
	// running total ends at the sum of that user's window counts since.
	last := map[string]int64{}
	for _, t := range totals.Results() {
		var user string
		var n int64
		if _, err := fmt.Sscanf(t, "%s %d", &user, &n); err != nil {
			return fmt.Errorf("running total %q: %w", t, err)
		}
		last[user] = max(last[user], n)
	}
	since := map[string]int64{}
	for _, r := range r2 {
		since[r.User] += r.Count
	}
	if !maps.Equal(last, since) {
		return fmt.Errorf("running totals %v differ from the window counts since the upgrade %v", last, since)
	}
	fmt.Printf("v2 running totals: %d users, each equal to its window counts since the upgrade (the new operator started empty)\n", len(last))

	fmt.Println("== checking against one uninterrupted run")
	envRef := weir.NewEnvironment(weir.WithParallelism(1))
	ref := memory.NewSink[orders.UserCount]()
	refCfg := cfg
	refCfg.Rate = 0
	if err := buildV1(envRef, refCfg, ref); err != nil {
		return err
	}
	if err := envRef.Execute(ctx, "orders-reference"); err != nil {
		return err
	}
	got, want := keys(append(r1, r2...)), keys(ref.Results())
	if !slices.Equal(got, want) {
		return fmt.Errorf("results differ: %d window counts from the two runs, %d from the uninterrupted run", len(got), len(want))
	}
	fmt.Printf("results continue exactly: %d window counts before the savepoint + %d after = %d, identical to the uninterrupted run\n",
		len(r1), len(r2), len(want))
	return nil
}

func buildV1(env *weir.Environment, cfg orders.Config, sink *memory.Sink[orders.UserCount]) error {
	counts, err := orders.Build(env, cfg)
	if err != nil {
		return err
	}
	weir.To(counts, sink).UID("counts-out")
	return nil
}

// buildV2 is version 1 plus a new stateful operator: a running total of
// orders per user, fed by the window counts. Its state starts empty; the
// window operator's state comes from the savepoint.
func buildV2(env *weir.Environment, cfg orders.Config, sink *memory.Sink[orders.UserCount], totals *memory.Sink[string]) error {
	counts, err := orders.Build(env, cfg)
	if err != nil {
		return err
	}
	weir.To(counts, sink).UID("counts-out")
	running := weir.KeyBy(counts, func(c orders.UserCount) string { return c.User }).
		Reduce(func(a, b orders.UserCount) orders.UserCount { b.Count += a.Count; return b }).
		UID("running-total").Name("running-total")
	weir.To(weir.Map(running, func(c orders.UserCount) string { return fmt.Sprintf("%s %d", c.User, c.Count) }), totals).UID("totals-out")
	return nil
}

func show(tag string, rs []orders.UserCount) {
	slices.SortFunc(rs, func(a, b orders.UserCount) int {
		if a.WindowStart != b.WindowStart {
			return int(a.WindowStart - b.WindowStart)
		}
		if a.User < b.User {
			return -1
		}
		return 1
	})
	for i, r := range rs {
		if i < 4 || i >= len(rs)-4 {
			fmt.Printf("%s  %s  %-5s %3d orders\n", tag, time.UnixMilli(r.WindowStart).UTC().Format("15:04:05"), r.User, r.Count)
		} else if i == 4 {
			fmt.Printf("%s  ... (%d more)\n", tag, len(rs)-8)
		}
	}
}

func keys(rs []orders.UserCount) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%d %s %d", r.WindowStart, r.User, r.Count)
	}
	slices.Sort(out)
	return out
}
