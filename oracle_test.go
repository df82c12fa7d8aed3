package weir_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/examples/nexmark/queries"
	"github.com/weirstream/weir/examples/orders/orders"
	"github.com/weirstream/weir/internal/engine"
)

// oracleCase builds one job writing its results, formatted, to a sink.
type oracleCase struct {
	name  string
	build func(env *weir.Environment, sink weir.Sink[string]) error
}

func attach[T any](s weir.Stream[T], err error, sink weir.Sink[string]) error {
	if err != nil {
		return err
	}
	weir.To(weir.Map(s, func(v T) string { return fmt.Sprintf("%+v", v) }).Name("format"), sink).UID("oracle-sink")
	return nil
}

func nexmarkCase(name string, events, rate int64, q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[string], error)) oracleCase {
	return oracleCase{name: name, build: func(env *weir.Environment, sink weir.Sink[string]) error {
		cfg := nexmark.DefaultSourceConfig()
		cfg.Events, cfg.Rate = events, rate
		s, err := q(env, cfg)
		return attach(s, err, sink)
	}}
}

func formatted[T any](q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[T], error)) func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[string], error) {
	return func(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[string], error) {
		s, err := q(env, cfg)
		if err != nil {
			return weir.Stream[string]{}, err
		}
		return weir.Map(s, func(v T) string { return fmt.Sprintf("%+v", v) }).Name("format-result"), nil
	}
}

// runToEnd runs a job uninterrupted and returns its sorted results.
func runToEnd(t *testing.T, c oracleCase, p int) []string {
	t.Helper()
	env := weir.NewEnvironment(weir.WithParallelism(p))
	sink := memory.NewSink[string]()
	if err := c.build(env, sink); err != nil {
		t.Fatal(err)
	}
	if err := env.Execute(context.Background(), c.name); err != nil {
		t.Fatal(err)
	}
	got := sink.Results()
	slices.Sort(got)
	return got
}

// stopAndResume runs the job at parallelism p1, stops it with a savepoint
// after delay, resumes from the savepoint at p2 and returns the results of
// both runs, sorted. It reports false if the stop could not be taken (the
// job ended first).
func stopAndResume(t *testing.T, c oracleCase, p1, p2 int, delay time.Duration) ([]string, bool) {
	t.Helper()
	env1 := weir.NewEnvironment(weir.WithParallelism(p1))
	sink1 := memory.NewSink[string]()
	if err := c.build(env1, sink1); err != nil {
		t.Fatal(err)
	}
	snaps := make(chan engine.TaskSnapshot, 256)
	job, err := weir.StartJob(env1, context.Background(), func(s engine.TaskSnapshot) { snaps <- s }, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	if err := job.Trigger(engine.Barrier{ID: 1, Kind: engine.Savepoint, Stop: true}); err != nil {
		if werr := job.Wait(); werr != nil {
			t.Fatal(werr)
		}
		if !errors.Is(err, engine.ErrFinishing) {
			t.Fatalf("stop barrier: %v", err)
		}
		return nil, false
	}
	var got []engine.TaskSnapshot
	for len(got) < job.Tasks() {
		select {
		case s := <-snaps:
			got = append(got, s)
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d task snapshots", len(got), job.Tasks())
		}
	}
	job.ResolveStop(1, true)
	if err := job.Wait(); err != nil {
		t.Fatal(err)
	}
	mem, err := engine.NewMemorySnapshot(got)
	if err != nil {
		t.Fatal(err)
	}
	env2 := weir.NewEnvironment(weir.WithParallelism(p2))
	sink2 := memory.NewSink[string]()
	if err := c.build(env2, sink2); err != nil {
		t.Fatal(err)
	}
	job2, err := weir.StartJob(env2, context.Background(), nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := job2.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("run 1: %d results, run 2: %d results", len(sink1.Results()), len(sink2.Results()))
	all := append(sink1.Results(), sink2.Results()...)
	slices.Sort(all)
	return all, true
}

// TestOracleStopAndResume is DESIGN.md's correctness oracle, with the
// snapshot held in memory: stopping a job with a savepoint at an arbitrary
// point and resuming it — at the same, a higher or a lower parallelism —
// yields exactly the multiset of results of one uninterrupted run.
func TestOracleStopAndResume(t *testing.T) {
	cases := []oracleCase{
		nexmarkCase("q5", 150_000, 1_500_000, formatted(queries.Q5)),
		nexmarkCase("q8", 300_000, 3_000_000, formatted(queries.Q8)),
		nexmarkCase("q11", 150_000, 1_500_000, formatted(queries.Q11)),
		{name: "orders", build: func(env *weir.Environment, sink weir.Sink[string]) error {
			cfg := orders.DefaultConfig()
			cfg.Orders, cfg.Rate = 20_000, 200_000
			s, err := orders.Build(env, cfg)
			return attach(s, err, sink)
		}},
	}
	for _, c := range cases {
		want := runToEnd(t, c, 2)
		if len(want) == 0 {
			t.Fatalf("%s: no results", c.name)
		}
		for _, pp := range [][2]int{{2, 2}, {2, 3}, {3, 1}} {
			for _, delay := range []time.Duration{10 * time.Millisecond, 50 * time.Millisecond} {
				t.Run(fmt.Sprintf("%s/p%d->p%d/after%v", c.name, pp[0], pp[1], delay), func(t *testing.T) {
					got, ok := stopAndResume(t, c, pp[0], pp[1], delay)
					if !ok {
						t.Skip("the job ended before the stop")
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%d results, want %d; first differences: %v", len(got), len(want), diff(got, want))
					}
				})
			}
		}
	}
}

// diff returns a few elements of the symmetric difference of two sorted
// slices.
func diff(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for (i < len(a) || j < len(b)) && len(out) < 6 {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, "+"+a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, "-"+b[j])
			j++
		default:
			i++
			j++
		}
	}
	return out
}

// markSink collects results and remembers, per writer, how many it had
// when it was first flushed: the flush at the first barrier.
type markSink struct {
	mu      sync.Mutex
	writers []*markWriter
}

type markWriter struct {
	s       *markSink
	results []string
	prefix  int // results before the first flush; -1 until then
}

func (s *markSink) NewWriter(weir.SinkContext) (weir.SinkWriter[string], error) {
	w := &markWriter{s: s, prefix: -1}
	s.mu.Lock()
	s.writers = append(s.writers, w)
	s.mu.Unlock()
	return w, nil
}

func (w *markWriter) Write(v string) error {
	w.s.mu.Lock()
	w.results = append(w.results, v)
	w.s.mu.Unlock()
	return nil
}

func (w *markWriter) Flush() error {
	w.s.mu.Lock()
	if w.prefix < 0 {
		w.prefix = len(w.results)
	}
	w.s.mu.Unlock()
	return nil
}

func (w *markWriter) Close() error { return nil }

// beforeBarrier returns the results every writer had at its first flush.
func (s *markSink) beforeBarrier() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, w := range s.writers {
		if w.prefix >= 0 {
			out = append(out, w.results[:w.prefix]...)
		}
	}
	return out
}

// TestOracleResumeFromRunningSnapshot takes a savepoint without stopping
// the job, reads it while the job goes on changing its state (the state is
// written from views of the live tables, see backend.View), and resumes a
// second job from it at another parallelism: the first job's results up to
// the barrier plus the second job's are exactly one uninterrupted run's.
func TestOracleResumeFromRunningSnapshot(t *testing.T) {
	cases := []oracleCase{
		nexmarkCase("q5", 150_000, 1_000_000, formatted(queries.Q5)),
		nexmarkCase("q8", 300_000, 2_000_000, formatted(queries.Q8)),
		nexmarkCase("q11", 150_000, 1_000_000, formatted(queries.Q11)),
		{name: "orders", build: func(env *weir.Environment, sink weir.Sink[string]) error {
			cfg := orders.DefaultConfig()
			cfg.Orders, cfg.Rate = 20_000, 150_000
			s, err := orders.Build(env, cfg)
			return attach(s, err, sink)
		}},
	}
	for _, c := range cases {
		want := runToEnd(t, c, 2)
		for _, pp := range [][2]int{{2, 3}, {3, 1}} {
			t.Run(fmt.Sprintf("%s/p%d->p%d", c.name, pp[0], pp[1]), func(t *testing.T) {
				env1 := weir.NewEnvironment(weir.WithParallelism(pp[0]))
				sink1 := &markSink{}
				if err := c.build(env1, sink1); err != nil {
					t.Fatal(err)
				}
				snaps := make(chan engine.TaskSnapshot, 256)
				job, err := weir.StartJob(env1, context.Background(), func(s engine.TaskSnapshot) { snaps <- s }, nil)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(30 * time.Millisecond)
				if err := job.Trigger(engine.Barrier{ID: 1, Kind: engine.Savepoint}); err != nil {
					_ = job.Wait()
					t.Skipf("the job ended before the savepoint: %v", err)
				}
				var got []engine.TaskSnapshot
				for len(got) < job.Tasks() {
					select {
					case s := <-snaps:
						got = append(got, s)
					case <-time.After(20 * time.Second):
						t.Fatalf("%d of %d task snapshots", len(got), job.Tasks())
					}
				}
				// Read the views while the job runs on.
				mem, err := engine.NewMemorySnapshot(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := job.Wait(); err != nil {
					t.Fatal(err)
				}
				env2 := weir.NewEnvironment(weir.WithParallelism(pp[1]))
				sink2 := memory.NewSink[string]()
				if err := c.build(env2, sink2); err != nil {
					t.Fatal(err)
				}
				job2, err := weir.StartJob(env2, context.Background(), nil, mem)
				if err != nil {
					t.Fatal(err)
				}
				if err := job2.Wait(); err != nil {
					t.Fatal(err)
				}
				before := sink1.beforeBarrier()
				t.Logf("%d results before the barrier, %d after the restore", len(before), len(sink2.Results()))
				all := append(before, sink2.Results()...)
				slices.Sort(all)
				if !slices.Equal(all, want) {
					t.Fatalf("%d results, want %d; first differences: %v", len(all), len(want), diff(all, want))
				}
			})
		}
	}
}
