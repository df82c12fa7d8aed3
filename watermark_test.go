package weir_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

func fmtWM(wm int64) string {
	switch wm {
	case math.MinInt64:
		return "MIN"
	case math.MaxInt64:
		return "MAX"
	}
	return fmt.Sprint(wm)
}

func constKey[T any](T) int { return 0 }

// tracer reports, for every record, the watermark the operator had when it
// arrived, and registers an event-time timer at the record's timestamp.
type tracer struct{}

func (tracer) ProcessElement(ctx *weir.KeyedContext[int], r kv, out weir.Collector[string]) error {
	return traceElement(ctx, r, out)
}

func (tracer) OnTimer(ctx *weir.KeyedContext[int], ts int64, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("timer %d wm=%s", ts, fmtWM(ctx.CurrentWatermark())))
	return nil
}

func traceElement(ctx *weir.KeyedContext[int], r kv, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("el %s%d wm=%s", r.K, r.TS, fmtWM(ctx.CurrentWatermark())))
	ctx.RegisterEventTimeTimer(r.TS)
	return nil
}

// coTracer is tracer for connected keyed streams.
type coTracer struct{ tracer }

func (coTracer) ProcessElement1(ctx *weir.KeyedContext[int], r kv, out weir.Collector[string]) error {
	return traceElement(ctx, r, out)
}

func (coTracer) ProcessElement2(ctx *weir.KeyedContext[int], r kv, out weir.Collector[string]) error {
	return traceElement(ctx, r, out)
}

// TestWatermarkIsMinimumOverInputs feeds two inputs step by step and checks
// the watermark each record meets: the operator's watermark is the minimum
// of its inputs', so the lagging input holds timers back until it catches
// up. A record pushed after earlier ones proves that the watermark that
// followed them has been processed (channels are FIFO).
func TestWatermarkIsMinimumOverInputs(t *testing.T) {
	cases := []struct {
		name  string
		build func(a, b weir.Stream[kv]) weir.Stream[string]
	}{
		{"union", func(a, b weir.Stream[kv]) weir.Stream[string] {
			return weir.Process(weir.KeyBy(weir.Union(a, b), constKey[kv]), tracer{})
		}},
		{"two inputs", func(a, b weir.Stream[kv]) weir.Stream[string] {
			return weir.KeyedCoProcess(weir.ConnectKeyed(weir.KeyBy(a, constKey[kv]), weir.KeyBy(b, constKey[kv])), coTracer{})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(weir.WithParallelism(1))
			srcA, srcB := newPushSource[kv](1), newPushSource[kv](1)
			a := weir.FromSource(env, srcA, weir.BoundedOutOfOrderness[kv](0))
			b := weir.FromSource(env, srcB, weir.BoundedOutOfOrderness[kv](0))
			sink := newLiveSink[string]()
			weir.To(c.build(a, b), sink)
			done := runAsync(context.Background(), env, "min-watermark")
			push := func(s *pushSource[kv], tag string, tss ...int64) {
				for _, ts := range tss {
					s.Push(0, kv{K: tag, TS: ts}, ts)
				}
			}
			var want []string
			step := func(lines ...string) {
				t.Helper()
				want = append(want, lines...)
				equalSeq(t, "trace", sink.WaitLen(t, len(want)), want)
			}
			push(srcA, "A", 1000, 2000, 3000)
			step("el A1000 wm=MIN", "el A2000 wm=MIN", "el A3000 wm=MIN")
			push(srcA, "A", 3500) // A's watermark is 2999 by now, B has none
			step("el A3500 wm=MIN")
			push(srcB, "B", 500)
			step("el B500 wm=MIN")
			push(srcB, "B", 600) // B's watermark is 499: the minimum
			step("el B600 wm=499", "timer 500 wm=599")
			push(srcB, "B", 5000) // B overtakes A: A's 3499 is the minimum
			step("el B5000 wm=599", "timer 600 wm=3499", "timer 1000 wm=3499", "timer 2000 wm=3499", "timer 3000 wm=3499")
			push(srcB, "B", 5001)
			step("el B5001 wm=3499")
			srcA.CloseAll()
			srcB.CloseAll()
			if err := wait(t, done); err != nil {
				t.Fatal(err)
			}
			// The inputs end one after the other, so the final timers fire
			// at the watermark of whichever ends last.
			equalSeq(t, "trace at the end", withoutWM(sink.Results()[len(want):]), []string{"timer 3500", "timer 5000", "timer 5001"})
		})
	}
}

// TestIdleSourceDoesNotHoldBackWatermark marks an input idle through
// WithIdleness on the manual clock: the other input alone then drives the
// watermark, until the idle one emits again.
func TestIdleSourceDoesNotHoldBackWatermark(t *testing.T) {
	clock := newManualClock(10_000)
	env := newEnv(weir.WithClock(clock))
	srcA, srcB := newPushSource[kv](1), newPushSource[kv](1)
	a := weir.FromSource(env, srcA, weir.BoundedOutOfOrderness[kv](0))
	b := weir.FromSource(env, srcB, weir.BoundedOutOfOrderness[kv](0).WithIdleness(100*time.Millisecond))
	sink := newLiveSink[string]()
	weir.To(weir.Process(weir.KeyBy(weir.Union(a, b), constKey[kv]), tracer{}), sink)
	done := runAsync(context.Background(), env, "idle")
	var want []string
	step := func(lines ...string) {
		t.Helper()
		want = append(want, lines...)
		equalSeq(t, "trace", sink.WaitLen(t, len(want)), want)
	}
	srcA.Push(0, kv{K: "A", TS: 1000}, 1000)
	srcA.Push(0, kv{K: "A", TS: 2000}, 2000)
	step("el A1000 wm=MIN", "el A2000 wm=MIN")
	srcA.Push(0, kv{K: "A", TS: 2500}, 2500)
	step("el A2500 wm=MIN") // B, not yet idle, holds the watermark back
	clock.Advance(100 * time.Millisecond)
	step("timer 1000 wm=2499", "timer 2000 wm=2499") // B went idle
	srcA.Push(0, kv{K: "A", TS: 3000}, 3000)
	step("el A3000 wm=2499", "timer 2500 wm=2999")
	// B wakes up behind A: it is not aligned and does not hold the
	// watermark back until it catches up (Flink's StatusWatermarkValve).
	srcB.Push(0, kv{K: "B", TS: 2600}, 2600)
	step("el B2600 wm=2999")
	srcA.Push(0, kv{K: "A", TS: 4000}, 4000)
	step("el A4000 wm=2999", "timer 2600 wm=3999", "timer 3000 wm=3999")
	srcB.Push(0, kv{K: "B", TS: 4500}, 4500)
	step("el B4500 wm=3999")
	srcA.CloseAll()
	srcB.CloseAll()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	equalSeq(t, "trace at the end", withoutWM(sink.Results()[len(want):]), []string{"timer 4000", "timer 4500"})
}

// TestSubtasksWithoutSplitsDoNotHoldBackWatermark runs an unbounded source
// with two splits at parallelism 4: the two subtasks without splits must
// not hold back the watermark of a running job.
func TestSubtasksWithoutSplitsDoNotHoldBackWatermark(t *testing.T) {
	env := newEnv(weir.WithParallelism(4))
	src := newPushSource[kv](2)
	s := weir.FromSource(env, src, weir.BoundedOutOfOrderness[kv](0))
	sink := newLiveSink[string]()
	weir.To(weir.Process(weir.KeyBy(s, constKey[kv]), tracer{}), sink).Parallelism(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, env, "splitless")
	src.Push(0, kv{K: "A", TS: 1000}, 1000)
	src.Push(1, kv{K: "B", TS: 2000}, 2000)
	src.Push(0, kv{K: "A", TS: 3000}, 3000)
	src.Push(1, kv{K: "B", TS: 3000}, 3000)
	// Both splits' watermarks are past 2000 now; had the splitless
	// subtasks counted, no timer would ever fire while the job runs.
	got := sink.WaitFor(t, func(got []string) bool {
		return countPrefix(got, "timer 1000 ") == 1 && countPrefix(got, "timer 2000 ") == 1
	})
	if n := countPrefix(got, "el "); n != 4 {
		t.Fatalf("%d records traced, want 4: %v", n, got)
	}
	if n := countPrefix(got, "timer 3000 "); n != 0 {
		t.Fatalf("timer 3000 fired before the watermark reached it: %v", got)
	}
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute = %v, want context.Canceled", err)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestSourceEndingEarlyDoesNotHoldBackWindows: a memory source with fewer
// elements than subtasks ends the empty subtasks at once; the job's windows
// all fire and Execute returns.
func TestSourceEndingEarlyDoesNotHoldBackWindows(t *testing.T) {
	env := newEnv(weir.WithParallelism(4))
	recs := []kv{{"a", 1500, 1}, {"a", 999_999_000, 2}}
	src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](0))
	counts := weir.WindowAggregateProcess(weir.KeyBy(src, kvKey).Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}, aggLabel[string, int64])
	sink := memory.NewSink[string]()
	weir.To(counts, sink)
	run(t, env)
	equalSorted(t, "windows", sink.Results(), []string{"a [1000, 2000) 1", "a [999999000, 1000000000) 1"})
}

// TestTimestampAssignerAndWatermarks re-stamps records downstream of a source
// whose own timestamps and watermarks are far ahead: the new timestamps and
// watermarks replace the old ones, and the final watermark still fires every
// window.
func TestTimestampAssignerAndWatermarks(t *testing.T) {
	var recs []kv
	for i := range 3000 {
		recs = append(recs, kv{K: fmt.Sprint("k", i%3), TS: int64(i) * 10, V: 1})
	}
	want := map[string]int{}
	for _, r := range recs {
		want[fmt.Sprintf("%s [%d, %d) ", r.K, r.TS/1000*1000, r.TS/1000*1000+1000)]++
	}
	var wantS []string
	for k, n := range want {
		wantS = append(wantS, fmt.Sprint(k, n))
	}
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			// The source stamps everything a day later than the records.
			src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(func(r kv) int64 { return r.TS + 86_400_000 })),
				weir.MonotonousTimestamps[kv]())
			restamped := weir.AssignTimestampsAndWatermarks(src, weir.BoundedOutOfOrderness[kv](0).WithTimestampAssigner(func(r kv, _ int64) int64 { return r.TS }))
			counts := weir.WindowAggregateProcess(weir.KeyBy(restamped, kvKey).Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}, aggLabel[string, int64])
			sink := memory.NewSink[string]()
			weir.To(counts, sink)
			run(t, env)
			equalSorted(t, "windows", sink.Results(), wantS)
		})
	}
}

// TestSourceTimestampAssigner takes timestamps from the records through the
// source's watermark strategy.
func TestSourceTimestampAssigner(t *testing.T) {
	recs := []kv{{"a", 100, 0}, {"a", 900, 0}, {"a", 1100, 0}, {"b", 2500, 0}}
	env := newEnv()
	src := weir.FromSource(env, memory.NewSource(recs), weir.BoundedOutOfOrderness[kv](0).WithTimestampAssigner(func(r kv, ts int64) int64 {
		if ts != weir.NoTimestamp {
			panic("the memory source has no timestamps here")
		}
		return r.TS
	}))
	counts := weir.WindowAggregateProcess(weir.KeyBy(src, kvKey).Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}, aggLabel[string, int64])
	sink := memory.NewSink[string]()
	weir.To(counts, sink)
	run(t, env)
	equalSorted(t, "windows", sink.Results(), []string{"a [0, 1000) 2", "a [1000, 2000) 1", "b [2000, 3000) 1"})
}

// withoutWM strips the watermark from trace lines.
func withoutWM(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i], _, _ = strings.Cut(l, " wm=")
	}
	return out
}

// TestIdleSourceReactivatedByWatermark: a source that went idle and then
// emits a watermark is active again (as in Flink, where emitting a
// watermark marks the output active), even when a chained filter drops
// all of its records.
func TestIdleSourceReactivatedByWatermark(t *testing.T) {
	clock := newManualClock(10_000)
	env := newEnv(weir.WithClock(clock))
	src := newPushSource[kv](1)
	a := weir.FromSource(env, src, weir.BoundedOutOfOrderness[kv](0).WithIdleness(100*time.Millisecond)).
		Filter(func(r kv) bool { return r.V >= 0 })
	sink := newLiveSink[string]()
	weir.To(weir.Process(weir.KeyBy(a, constKey[kv]), tracer{}), sink)
	done := runAsync(context.Background(), env, "reactivate")
	src.Push(0, kv{K: "A", TS: 1000}, 1000)
	equalSeq(t, "trace", sink.WaitLen(t, 1), []string{"el A1000 wm=MIN"})
	clock.Advance(100 * time.Millisecond)
	src.WaitEmptyRead(t) // the source is idle now, and so is the operator
	// Records the filter drops still advance the source's watermark.
	src.Push(0, kv{K: "A", TS: 3000, V: -1}, 3000)
	equalSeq(t, "trace", sink.WaitLen(t, 2), []string{"el A1000 wm=MIN", "timer 1000 wm=2999"})
	src.CloseAll()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

// TestAssignedWatermarksArePeriodic: downstream of a source without
// watermarks, AssignTimestampsAndWatermarks must emit watermarks
// periodically in processing time (as Flink does every 200ms), not only
// every so many records, or a slow stream never fires its windows.
func TestAssignedWatermarksArePeriodic(t *testing.T) {
	clock := newManualClock(10_000)
	env := newEnv(weir.WithClock(clock))
	src := newPushSource[kv](1)
	stamped := weir.AssignTimestampsAndWatermarks(weir.FromSource(env, src, weir.NoWatermarks[kv]()),
		weir.BoundedOutOfOrderness[kv](0).WithTimestampAssigner(func(r kv, _ int64) int64 { return r.TS }))
	sink := newLiveSink[string]()
	weir.To(weir.Process(weir.KeyBy(stamped, constKey[kv]), tracer{}), sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, env, "periodic")
	src.Push(0, kv{K: "A", TS: 1000}, weir.NoTimestamp)
	src.Push(0, kv{K: "A", TS: 2000}, weir.NoTimestamp)
	sink.WaitLen(t, 2)
	clock.Advance(200 * time.Millisecond)
	got := sink.WaitFor(t, func(got []string) bool { return countPrefix(got, "timer 1000 ") == 1 })
	equalSeq(t, "trace", got, []string{"el A1000 wm=MIN", "el A2000 wm=MIN", "timer 1000 wm=1999"})
	cancel()
	wait(t, done)
}
