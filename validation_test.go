package weir_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

// TestEventTimeNeedsTimestamps: a record without an event timestamp in an
// event-time window or interval join fails the job with a message saying
// what to do, as Flink does, instead of landing in a nonsense window.
func TestEventTimeNeedsTimestamps(t *testing.T) {
	build := map[string]func(env *weir.Environment){
		"window": func(env *weir.Environment) {
			src := weir.FromSource(env, memory.NewSource([]int{1, 2, 3}), weir.NoWatermarks[int]())
			w := weir.KeyBy(src, func(v int) int { return v }).Window(window.TumblingEventTime(time.Second)).Reduce(func(a, b int) int { return a + b })
			weir.To(w, memory.NewSink[int]())
		},
		"interval join": func(env *weir.Environment) {
			a := weir.KeyBy(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), func(v int) int { return v })
			b := weir.KeyBy(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), func(v int) int { return v })
			j := weir.IntervalJoin(a, b, weir.Interval{Lower: -time.Second, Upper: time.Second}, func(x, y int, _ int64, out weir.Collector[int]) error {
				out.Collect(x + y)
				return nil
			})
			weir.To(j, memory.NewSink[int]())
		},
	}
	for name, b := range build {
		t.Run(name, func(t *testing.T) {
			env := weir.NewEnvironment()
			b(env)
			err := env.Execute(context.Background(), name)
			if err == nil || !strings.Contains(err.Error(), "no event timestamp") {
				t.Fatalf("Execute = %v, want an error about the missing event timestamp", err)
			}
		})
	}
}

func TestIntervalJoinAcrossEnvironments(t *testing.T) {
	env1, env2 := weir.NewEnvironment(), weir.NewEnvironment()
	a := weir.KeyBy(weir.FromSource(env1, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), func(v int) int { return v })
	b := weir.KeyBy(weir.FromSource(env2, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), func(v int) int { return v })
	weir.To(weir.IntervalJoin(a, b, weir.Interval{}, func(x, y int, _ int64, out weir.Collector[int]) error { return nil }), memory.NewSink[int]())
	if err := env1.Execute(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "different environments") {
		t.Fatalf("Execute = %v", err)
	}
}

func TestNegativeWindowOffset(t *testing.T) {
	a := window.TumblingEventTime(10 * time.Second).WithOffset(-3 * time.Second)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := a.Assign(nil, 12345); got[0] != (window.TimeWindow{Start: 7000, End: 17000}) {
		t.Fatalf("window %v", got)
	}
	if window.EventTimeSession(time.Second).WithOffset(time.Millisecond).Validate() == nil {
		t.Fatal("a session window with an offset validated")
	}
}

func TestNilOptions(t *testing.T) {
	for name, opt := range map[string]weir.Option{"logger": weir.WithLogger(nil), "clock": weir.WithClock(nil)} {
		env := weir.NewEnvironment(opt)
		weir.To(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), memory.NewSink[int]())
		if err := env.Execute(context.Background(), name); err == nil {
			t.Fatalf("With%s(nil) accepted", name)
		}
	}
}

// TestBadRestorePaths: restoring from an empty path, a file that is not a
// savepoint, or a directory without _metadata fails, naming what is wrong.
func TestBadRestorePaths(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"", "empty path"},
		{"validation_test.go", "not a weir savepoint"},
		{t.TempDir(), "no _metadata"},
	} {
		env := weir.NewEnvironment(weir.FromSavepoint(c.path))
		weir.To(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), memory.NewSink[int]())
		if err := env.Execute(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("restore from %q: %v, want an error containing %q", c.path, err, c.want)
		}
	}
}
