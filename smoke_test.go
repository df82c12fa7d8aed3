package weir_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

type ev struct {
	Key string
	TS  int64
	N   int
}

func events(n int) []ev {
	keys := []string{"joha", "nina", "gru", "andi"}
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{Key: keys[(i*7)%4], TS: int64(i) * 100, N: i}
	}
	return out
}

func TestSmokeWindowCount(t *testing.T) {
	for _, p := range []int{1, 4} {
		env := weir.NewEnvironment(weir.WithParallelism(p))
		src := weir.FromSource(env, memory.NewSource(events(1000), memory.WithTimestamps(func(e ev) int64 { return e.TS })),
			weir.BoundedOutOfOrderness[ev](0))
		counts := weir.WindowAggregateProcess(
			weir.KeyBy(src, func(e ev) string { return e.Key }).Window(window.TumblingEventTime(10*time.Second)),
			countAgg[ev]{},
			func(k string, w window.TimeWindow, c int64, out weir.Collector[string]) error {
				out.Collect(k + ":" + time.UnixMilli(w.Start).UTC().Format("15:04:05") + ":" + itoa(c))
				return nil
			})
		sink := memory.NewSink[string]()
		weir.To(counts, sink)
		if err := env.Execute(context.Background(), "smoke"); err != nil {
			t.Fatal(err)
		}
		got := sink.Results()
		slices.Sort(got)
		if len(got) != 40 {
			t.Fatalf("p=%d: %d results: %v", p, len(got), got)
		}
	}
}

type countAgg[T any] struct{}

func (countAgg[T]) CreateAccumulator() int64 { return 0 }
func (countAgg[T]) Add(_ T, acc int64) int64 { return acc + 1 }
func (countAgg[T]) Result(acc int64) int64   { return acc }
func (countAgg[T]) Merge(a, b int64) int64   { return a + b }
func itoa(n int64) string                    { return time.Duration(n).String() }
