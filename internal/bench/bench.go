// Package bench measures Nexmark queries on the embedded runtime in events
// per CPU-second, next to the bare generator measured in the same run, and
// prints the table that BENCHMARKS.md records.
package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/examples/nexmark/queries"
)

// Options configure a benchmark run.
type Options struct {
	// Events per run (all event kinds counted).
	Events int64
	// Queries to run, such as "q0".
	Queries []string
	// Parallelism values to run each query at.
	Parallelism []int
	// Repeat runs each case this many times and keeps the best.
	Repeat int
}

// Result is one measured case.
type Result struct {
	Case        string
	Parallelism int
	Events      int64
	Results     int64
	Wall        time.Duration
	CPU         time.Duration
}

// PerCPUSecond returns events per CPU-second.
func (r Result) PerCPUSecond() float64 { return float64(r.Events) / r.CPU.Seconds() }

// PerWallSecond returns events per wall-clock second.
func (r Result) PerWallSecond() float64 { return float64(r.Events) / r.Wall.Seconds() }

func measure(f func() (int64, error)) (Result, error) {
	runtime.GC()
	c0, w0 := cpuTime(), time.Now()
	n, err := f()
	return Result{Results: n, Wall: time.Since(w0), CPU: cpuTime() - c0}, err
}

// Generator measures the bare generator producing the bids of events
// [0, events) on one goroutine: the source's work without the engine.
func Generator(events int64) (Result, error) {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
	if err != nil {
		return Result{}, err
	}
	var sink int64
	r, err := measure(func() (int64, error) {
		var b nexmark.Bid
		var n int64
		for i := int64(0); i < events; i++ {
			if g.TypeOf(i) != nexmark.EventBid {
				continue
			}
			g.Bid(i, &b)
			sink += b.Price
			n++
		}
		return n, nil
	})
	r.Case, r.Parallelism, r.Events = "generator (bids)", 1, events
	_ = sink
	return r, err
}

// Query measures one query at one parallelism.
func Query(q string, p int, events int64) (Result, error) {
	return QueryCheckpointed(q, p, events, 0, "")
}

// QueryCheckpointed measures one query taking a checkpoint every interval
// into dir (no checkpoints when interval is 0).
func QueryCheckpointed(q string, p int, events int64, interval time.Duration, dir string) (Result, error) {
	build, err := queries.Lookup(q)
	if err != nil {
		return Result{}, err
	}
	cfg := nexmark.DefaultSourceConfig()
	cfg.Events = events
	opts := []weir.Option{weir.WithParallelism(p)}
	if interval > 0 {
		opts = append(opts, weir.WithCheckpointDir(dir), weir.WithCheckpointInterval(interval))
	}
	env := weir.NewEnvironment(opts...)
	var count atomic.Int64
	if err := build(env, cfg, queries.Output{Count: &count}); err != nil {
		return Result{}, err
	}
	r, err := measure(func() (int64, error) {
		err := env.Execute(context.Background(), "bench-"+q)
		return count.Load(), err
	})
	r.Case, r.Parallelism, r.Events = q, p, events
	if interval > 0 {
		r.Case = fmt.Sprintf("%s, checkpoint every %v", q, interval)
	}
	return r, err
}

// CheckpointOverhead measures q at parallelism p without checkpoints and
// with one every interval, alternating runs, best of repeat each.
func CheckpointOverhead(q string, p int, events int64, interval time.Duration, dir string, repeat int) (without, with Result, err error) {
	for i := 0; i < max(repeat, 1); i++ {
		a, err := QueryCheckpointed(q, p, events, 0, "")
		if err != nil {
			return without, with, err
		}
		b, err := QueryCheckpointed(q, p, events, interval, dir)
		if err != nil {
			return without, with, err
		}
		if i == 0 || a.CPU < without.CPU {
			without = a
		}
		if i == 0 || b.CPU < with.CPU {
			with = b
		}
	}
	return without, with, nil
}

// Run measures the generator and every (query, parallelism) case, keeping
// the best of opts.Repeat runs of each, and returns them in order.
func Run(opts Options, progress io.Writer) ([]Result, error) {
	if opts.Repeat < 1 {
		opts.Repeat = 1
	}
	best := func(f func() (Result, error)) (Result, error) {
		var b Result
		for i := 0; i < opts.Repeat; i++ {
			r, err := f()
			if err != nil {
				return r, err
			}
			if i == 0 || r.CPU < b.CPU {
				b = r
			}
		}
		if progress != nil {
			fmt.Fprintf(progress, "  %-18s p=%d  %.0f events/CPU-s\n", b.Case, b.Parallelism, b.PerCPUSecond())
		}
		return b, nil
	}
	var out []Result
	r, err := best(func() (Result, error) { return Generator(opts.Events) })
	if err != nil {
		return nil, err
	}
	out = append(out, r)
	for _, q := range opts.Queries {
		for _, p := range opts.Parallelism {
			r, err := best(func() (Result, error) { return Query(q, p, opts.Events) })
			if err != nil {
				return nil, fmt.Errorf("%s p=%d: %w", q, p, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Targets are the goals in events per CPU-second; q0's is relative
// to the generator (0.7 ×).
var Targets = map[string]float64{"q5": 1_000_000, "q8": 500_000, "q11": 500_000}

// Print writes results as a markdown table.
func Print(w io.Writer, rs []Result) {
	var gen float64
	for _, r := range rs {
		if r.Case == "generator (bids)" {
			gen = r.PerCPUSecond()
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| case\t p\t events\t results\t wall\t CPU\t events/CPU-s\t events/s (wall)\t target\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, r := range rs {
		target := "-"
		switch {
		case r.Case == "q0" && gen > 0:
			ratio := r.PerCPUSecond() / gen
			target = fmt.Sprintf("≥ 0.70 × generator: %.2f %s", ratio, mark(ratio >= 0.7))
		case Targets[r.Case] > 0:
			target = fmt.Sprintf("≥ %.0f %s", Targets[r.Case], mark(r.PerCPUSecond() >= Targets[r.Case]))
		}
		fmt.Fprintf(tw, "| %s\t %d\t %d\t %d\t %v\t %v\t %.0f\t %.0f\t %s\t\n", r.Case, r.Parallelism, r.Events, r.Results,
			r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.PerCPUSecond(), r.PerWallSecond(), target)
	}
	tw.Flush()
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
