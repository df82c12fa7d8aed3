package weir_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

// eventTimers registers an event-time timer 100ms after each record; V
// selects extra behaviour: 1 registers two timers and deletes the first, 2
// registers a timer the watermark has already passed, 3 deletes and
// re-registers a timer.
type eventTimers struct{}

func (eventTimers) ProcessElement(ctx *weir.KeyedContext[string], r kv, out weir.Collector[string]) error {
	if ctx.Timestamp() != r.TS {
		return fmt.Errorf("Timestamp() = %d for a record at %d", ctx.Timestamp(), r.TS)
	}
	out.Collect(fmt.Sprintf("el %s@%d", r.K, r.TS))
	switch r.V {
	case 0:
		ctx.RegisterEventTimeTimer(r.TS + 100)
		ctx.RegisterEventTimeTimer(r.TS + 100) // registered twice, fires once
	case 1:
		ctx.RegisterEventTimeTimer(r.TS + 100)
		ctx.RegisterEventTimeTimer(r.TS + 200)
		ctx.DeleteEventTimeTimer(r.TS + 100)
		ctx.DeleteEventTimeTimer(r.TS + 999) // never registered
	case 2:
		ctx.RegisterEventTimeTimer(300)
	case 3:
		// Deleted and registered again: fires once.
		ctx.RegisterEventTimeTimer(600)
		ctx.DeleteEventTimeTimer(600)
		ctx.RegisterEventTimeTimer(600)
		ctx.DeleteEventTimeTimer(600)
		ctx.RegisterEventTimeTimer(600)
	}
	return nil
}

func (eventTimers) OnTimer(ctx *weir.KeyedContext[string], ts int64, out weir.Collector[string]) error {
	if ctx.Timestamp() != ts || ctx.TimeDomain() != weir.EventTime {
		return fmt.Errorf("timer %d: Timestamp() = %d, domain %v", ts, ctx.Timestamp(), ctx.TimeDomain())
	}
	if ctx.CurrentWatermark() < ts {
		return fmt.Errorf("timer %d fired at watermark %d", ts, ctx.CurrentWatermark())
	}
	out.Collect(fmt.Sprintf("timer %s@%d wm=%d", ctx.CurrentKey(), ts, ctx.CurrentWatermark()))
	return nil
}

// TestEventTimeTimers checks the exact interleaving of records and timers
// in a one-subtask job whose watermark follows every record: a timer fires
// as soon as the watermark reaches it, in timestamp order, with its key.
func TestEventTimeTimers(t *testing.T) {
	recs := []kv{{"a", 100, 0}, {"b", 150, 0}, {"a", 250, 0}, {"b", 400, 0}, {"c", 450, 1}, {"d", 460, 2}, {"e", 470, 3}}
	env := newEnv()
	out := weir.Process(weir.KeyBy(kvSource(env, recs, 0), kvKey), eventTimers{})
	// A second operator sees the timers' output with their timestamps.
	stamped := weir.Process(weir.KeyBy(out, func(string) int { return 0 }), weir.ProcessFunc[int, string, string](
		func(ctx *weir.KeyedContext[int], s string, out weir.Collector[string]) error {
			out.Collect(fmt.Sprintf("%s ts=%d", s, ctx.Timestamp()))
			return nil
		}))
	sink := memory.NewSink[string]()
	weir.To(stamped, sink)
	run(t, env)
	equalSeq(t, "records and timers", sink.Results(), []string{
		"el a@100 ts=100",
		"el b@150 ts=150",
		"el a@250 ts=250",
		"timer a@200 wm=249 ts=200",
		"el b@400 ts=400",
		"timer b@250 wm=399 ts=250",
		"timer a@350 wm=399 ts=350",
		"el c@450 ts=450",
		"el d@460 ts=460",
		"timer d@300 wm=459 ts=300",
		"el e@470 ts=470",
		"timer b@500 wm=9223372036854775807 ts=500",
		"timer e@600 wm=9223372036854775807 ts=600",
		"timer c@650 wm=9223372036854775807 ts=650",
	})
}

// procTimers registers a processing-time timer 100ms after the current
// processing time for every record (twice: it must fire once); a record
// with V == 1 deletes its timer again.
type procTimers struct{}

func (procTimers) ProcessElement(ctx *weir.KeyedContext[string], r kv, out weir.Collector[string]) error {
	at := ctx.CurrentProcessingTime() + 100
	ctx.RegisterProcessingTimeTimer(at)
	ctx.RegisterProcessingTimeTimer(at)
	if r.V == 1 {
		ctx.DeleteProcessingTimeTimer(at)
		out.Collect(fmt.Sprintf("deleted %s@%d", r.K, at))
		return nil
	}
	out.Collect(fmt.Sprintf("registered %s@%d", r.K, at))
	return nil
}

func (procTimers) OnTimer(ctx *weir.KeyedContext[string], ts int64, out weir.Collector[string]) error {
	if ctx.TimeDomain() != weir.ProcessingTime || ctx.Timestamp() != ts {
		return fmt.Errorf("timer %d: domain %v, Timestamp() = %d", ts, ctx.TimeDomain(), ctx.Timestamp())
	}
	out.Collect(fmt.Sprintf("fired %s@%d now=%d", ctx.CurrentKey(), ts, ctx.CurrentProcessingTime()))
	return nil
}

// TestProcessingTimeTimers drives processing time with a manual clock while
// the job runs: timers fire when the clock reaches them, in order, once,
// and not after being deleted.
func TestProcessingTimeTimers(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			clock := newManualClock(10_000)
			env := newEnv(weir.WithClock(clock), weir.WithParallelism(p))
			src := newPushSource[kv](1)
			out := weir.Process(weir.KeyBy(weir.FromSource(env, src, weir.NoWatermarks[kv]()).Parallelism(1), kvKey), procTimers{})
			sink := newLiveSink[string]()
			weir.To(out, sink).Parallelism(1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := runAsync(ctx, env, "proc-timers")

			src.Push(0, kv{K: "a"}, weir.NoTimestamp)
			sink.WaitLen(t, 1)
			clock.Advance(50 * time.Millisecond)
			src.Push(0, kv{K: "b"}, weir.NoTimestamp)
			sink.WaitLen(t, 2)
			src.Push(0, kv{K: "c", V: 1}, weir.NoTimestamp)
			sink.WaitLen(t, 3)
			clock.Advance(49 * time.Millisecond) // 10099: nothing due
			clock.Advance(1 * time.Millisecond)  // 10100: a
			sink.WaitLen(t, 4)
			clock.WaitTimer(t, 10150)            // re-armed for b
			clock.Advance(60 * time.Millisecond) // 10160: b (c's was deleted)
			got := sink.WaitLen(t, 5)
			equalSeq(t, "processing-time timers", got, []string{
				"registered a@10100",
				"registered b@10150",
				"deleted c@10150",
				"fired a@10100 now=10100",
				"fired b@10150 now=10160",
			})
			cancel()
			if err := wait(t, done); !errors.Is(err, context.Canceled) {
				t.Fatalf("Execute = %v, want context.Canceled", err)
			}
			if n := len(sink.Results()); n != 5 {
				t.Fatalf("%d results after cancel, want 5: %v", n, sink.Results())
			}
		})
	}
}

// periodic re-registers a processing-time timer every time one fires, the
// usual way to emit something periodically.
type periodic struct{}

func (periodic) ProcessElement(ctx *weir.KeyedContext[string], _ kv, _ weir.Collector[string]) error {
	ctx.RegisterProcessingTimeTimer(ctx.CurrentProcessingTime() + 1000)
	return nil
}

func (periodic) OnTimer(ctx *weir.KeyedContext[string], ts int64, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("tick %s@%d", ctx.CurrentKey(), ts))
	ctx.RegisterProcessingTimeTimer(ctx.CurrentProcessingTime() + 1000)
	return nil
}

// TestProcessingTimersAtEndOfInput checks weir's rule that the end of a
// bounded input is the end of processing time: pending processing-time
// timers fire once, and a timer that re-registers itself does not keep the
// job from finishing.
func TestProcessingTimersAtEndOfInput(t *testing.T) {
	clock := newManualClock(50_000)
	env := newEnv(weir.WithClock(clock), weir.WithParallelism(2))
	src := weir.FromSource(env, memory.NewSource([]kv{{K: "a"}, {K: "b"}, {K: "a"}}), weir.NoWatermarks[kv]())
	sink := memory.NewSink[string]()
	weir.To(weir.Process(weir.KeyBy(src, kvKey), periodic{}), sink)
	run(t, env)
	equalSorted(t, "ticks", sink.Results(), []string{"tick a@51000", "tick b@51000"})
}

// TestTimerOutputPrecedesFinalWatermark checks that what processing-time
// timers emit at the end of the input reaches downstream event-time
// operators before the final watermark, instead of arriving late.
func TestTimerOutputPrecedesFinalWatermark(t *testing.T) {
	clock := newManualClock(50_000)
	env := newEnv(weir.WithClock(clock))
	recs := []kv{{"a", 10, 0}, {"b", 20, 0}, {"a", 30, 0}}
	src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](0))
	fired := weir.Process(weir.KeyBy(src, kvKey), procTimers{})
	// Processing-time windows fire at the end of the input too.
	windows := weir.WindowAggregate(weir.KeyBy(src, kvKey).Window(window.TumblingProcessingTime(time.Second)), countAgg[kv]{})
	timerCount := weir.WindowAggregate(weir.KeyBy(fired, func(string) int { return 0 }).Window(window.TumblingEventTime(time.Hour)), countAgg[string]{})
	windowCount := weir.WindowAggregate(weir.KeyBy(windows, func(int64) int { return 0 }).Window(window.TumblingEventTime(time.Hour)), countAgg[int64]{})
	s1, s2 := memory.NewSink[int64](), memory.NewSink[int64]()
	weir.To(timerCount, s1)
	weir.To(windowCount, s2)
	run(t, env)
	// Three registrations and two timers (a's second registration at the
	// same processing time is the same timer).
	equalSeq(t, "records counted downstream of the timers", s1.Results(), []int64{5})
	equalSeq(t, "records counted downstream of the processing-time windows", s2.Results(), []int64{2})
}

// TestEventTimeTimerAtMaxWatermark checks that a timer at the largest
// timestamp fires once, on the final watermark.
func TestEventTimeTimerAtMaxWatermark(t *testing.T) {
	env := newEnv()
	src := kvSource(env, []kv{{"a", 1, 0}, {"b", 2, 0}}, 0)
	sink := memory.NewSink[string]()
	weir.To(weir.Process(weir.KeyBy(src, kvKey), weir.ProcessFunc[string, kv, string](
		func(ctx *weir.KeyedContext[string], _ kv, _ weir.Collector[string]) error {
			ctx.RegisterEventTimeTimer(math.MaxInt64)
			return nil
		})), sink)
	// ProcessFunc has no OnTimer: timers of a function without a handler
	// are dropped silently; the job still ends.
	run(t, env)
	if got := sink.Results(); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	env = newEnv()
	src = kvSource(env, []kv{{"a", 1, 0}, {"b", 2, 0}, {"a", 3, 0}}, 0)
	weir.To(weir.Process(weir.KeyBy(src, kvKey), endTimer{}), sink)
	run(t, env)
	equalSorted(t, "end timers", sink.Results(), []string{"a@9223372036854775807", "b@9223372036854775807"})
}

type endTimer struct{}

func (endTimer) ProcessElement(ctx *weir.KeyedContext[string], _ kv, _ weir.Collector[string]) error {
	ctx.RegisterEventTimeTimer(math.MaxInt64)
	return nil
}

func (endTimer) OnTimer(ctx *weir.KeyedContext[string], ts int64, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("%s@%d", ctx.CurrentKey(), ts))
	return nil
}
