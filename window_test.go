package weir_test

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

// aggLabel emits "key [start, end) value" for a window's aggregate.
func aggLabel[K comparable, V any](k K, w window.TimeWindow, v V, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("%v %v %v", k, w, v))
	return nil
}

// windowFns builds the same per-window result ("key [start, end) value")
// with each of the window functions: the value is the sum of V.
var windowFns = []struct {
	name  string
	apply func(ws weir.WindowedStream[string, kv]) weir.Stream[string]
}{
	{"Reduce", func(ws weir.WindowedStream[string, kv]) weir.Stream[string] {
		// Reduce knows no window: label it with the result's timestamp,
		// which is the window's last millisecond.
		r := ws.Reduce(func(a, b kv) kv { return kv{K: a.K, V: a.V + b.V} })
		return weir.Process(weir.KeyBy(r, kvKey), weir.ProcessFunc[string, kv, string](
			func(ctx *weir.KeyedContext[string], r kv, out weir.Collector[string]) error {
				out.Collect(fmt.Sprintf("%s end=%d %d", r.K, ctx.Timestamp()+1, r.V))
				return nil
			}))
	}},
	{"WindowAggregate", func(ws weir.WindowedStream[string, kv]) weir.Stream[string] {
		r := weir.WindowAggregate(ws, keyedSum{})
		return weir.Process(weir.KeyBy(r, kvKey), weir.ProcessFunc[string, kv, string](
			func(ctx *weir.KeyedContext[string], r kv, out weir.Collector[string]) error {
				out.Collect(fmt.Sprintf("%s end=%d %d", r.K, ctx.Timestamp()+1, r.V))
				return nil
			}))
	}},
	{"WindowProcess", func(ws weir.WindowedStream[string, kv]) weir.Stream[string] {
		return weir.WindowProcess(ws, func(k string, w window.TimeWindow, in iter.Seq[kv], out weir.Collector[string]) error {
			var sum int64
			for r := range in {
				sum += r.V
			}
			out.Collect(fmt.Sprintf("%s end=%d %d", k, w.End, sum))
			return nil
		})
	}},
	{"WindowAggregateProcess", func(ws weir.WindowedStream[string, kv]) weir.Stream[string] {
		return weir.WindowAggregateProcess(ws, sumAgg{}, func(k string, w window.TimeWindow, sum int64, out weir.Collector[string]) error {
			in := func(yield func(int64) bool) { yield(sum) }
			for s := range in {
				out.Collect(fmt.Sprintf("%s end=%d %d", k, w.End, s))
			}
			return nil
		})
	}},
}

// keyedSum sums V, keeping the key.
type keyedSum struct{}

func (keyedSum) CreateAccumulator() kv { return kv{} }
func (keyedSum) Add(r, acc kv) kv      { return kv{K: r.K, V: acc.V + r.V} }
func (keyedSum) Result(acc kv) kv      { return acc }
func (keyedSum) Merge(a, b kv) kv      { return kv{K: max(a.K, b.K), V: a.V + b.V} }

// TestEventTimeWindows checks tumbling, sliding and session windows against
// hand-computed results, with every window function, at parallelism 1 and 2.
// Records arrive out of order within the watermark bound, so none is late.
func TestEventTimeWindows(t *testing.T) {
	cases := []struct {
		name     string
		assigner window.Assigner
		recs     []kv
		want     []string
	}{
		{
			name:     "tumbling",
			assigner: window.TumblingEventTime(time.Second),
			recs: []kv{{"a", 0, 1}, {"a", 999, 2}, {"b", 500, 4}, {"a", 1000, 8}, {"a", 2500, 16}, {"b", 2999, 32},
				{"b", 3000, 64}, {"a", 100, 128}},
			want: []string{"a end=1000 131", "a end=2000 8", "a end=3000 16", "b end=1000 4", "b end=3000 32", "b end=4000 64"},
		},
		{
			name:     "tumbling with offset",
			assigner: window.TumblingEventTime(time.Second).WithOffset(250 * time.Millisecond),
			recs:     []kv{{"a", 0, 1}, {"a", 249, 2}, {"a", 250, 4}, {"a", 1249, 8}, {"a", 1250, 16}},
			want:     []string{"a end=250 3", "a end=1250 12", "a end=2250 16"},
		},
		{
			name:     "sliding",
			assigner: window.SlidingEventTime(2*time.Second, time.Second),
			recs:     []kv{{"a", 500, 1}, {"a", 1500, 2}, {"a", 2500, 4}, {"b", 1999, 8}},
			want: []string{"a end=1000 1", "a end=2000 3", "a end=3000 6", "a end=4000 4",
				"b end=2000 8", "b end=3000 8"},
		},
		{
			name:     "sessions",
			assigner: window.EventTimeSession(time.Second),
			recs: []kv{
				// a: [0,1000) and [2000,3000) are bridged by 1000, whose
				// window [1000,2000) touches both; then [5000,6500).
				{"a", 0, 1}, {"a", 2000, 2}, {"a", 5000, 4}, {"a", 1000, 8}, {"a", 5500, 16},
				// b: one record; c: two overlapping ones.
				{"b", 100, 32}, {"c", 0, 64}, {"c", 999, 128},
			},
			want: []string{"a end=3000 11", "a end=6500 20", "b end=1100 32", "c end=1999 192"},
		},
	}
	for _, c := range cases {
		for _, fn := range windowFns {
			for _, p := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%s/p=%d", c.name, fn.name, p), func(t *testing.T) {
					env := newEnv(weir.WithParallelism(p))
					src := weir.FromSource(env, memory.NewSource(c.recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](5*time.Second))
					sink := memory.NewSink[string]()
					weir.To(fn.apply(weir.KeyBy(src, kvKey).Window(c.assigner)), sink)
					run(t, env)
					equalSorted(t, "windows", sink.Results(), c.want)
				})
			}
		}
	}
}

// TestWindowCountsAtScale compares tumbling and sliding counts over many
// records with a plain-Go computation.
func TestWindowCountsAtScale(t *testing.T) {
	recs := pipelineRecords()
	tumbling, sliding := map[string]int{}, map[string]int{}
	for _, r := range recs {
		s := r.TS / 1000 * 1000
		tumbling[fmt.Sprintf("%s [%d, %d) ", r.K, s, s+1000)]++
		for start := r.TS / 500 * 500; start > r.TS-2000; start -= 500 {
			sliding[fmt.Sprintf("%s [%d, %d) ", r.K, start, start+2000)]++
		}
	}
	flat := func(m map[string]int) []string {
		var out []string
		for k, n := range m {
			out = append(out, fmt.Sprint(k, n))
		}
		return out
	}
	env := newEnv(weir.WithParallelism(3))
	src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](100*time.Millisecond))
	keyed := weir.KeyBy(src, kvKey)
	s1, s2 := memory.NewSink[string](), memory.NewSink[string]()
	weir.To(weir.WindowAggregateProcess(keyed.Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}, aggLabel[string, int64]), s1)
	weir.To(weir.WindowAggregateProcess(keyed.Window(window.SlidingEventTime(2*time.Second, 500*time.Millisecond)), countAgg[kv]{}, aggLabel[string, int64]), s2)
	run(t, env)
	equalSorted(t, "tumbling", s1.Results(), flat(tumbling))
	equalSorted(t, "sliding", s2.Results(), flat(sliding))
}

// TestAllowedLateness runs one key through a one-subtask job whose
// watermark follows every record, so it is exact which records are late.
func TestAllowedLateness(t *testing.T) {
	recs := []kv{
		{"a", 1000, 1}, {"a", 9000, 2},
		{"a", 12000, 4},  // watermark 11999: [0,10000) fires with 3
		{"a", 3000, 8},   // late, within 5s of lateness: fires again with 11
		{"a", 16000, 16}, // watermark 15999: [0,10000) is cleaned up at 14999
		{"a", 4000, 32},  // beyond the lateness: dropped
		{"a", 25000, 64}, // watermark 24999: [10000,20000) fires with 20
	}
	cases := []struct {
		lateness time.Duration
		want     []string
	}{
		{5 * time.Second, []string{"a end=10000 3", "a end=10000 11", "a end=20000 20", "a end=30000 64"}},
		{0, []string{"a end=10000 3", "a end=20000 20", "a end=30000 64"}},
		// With lateness beyond every record, 4000 fires the window a third
		// time.
		{time.Hour, []string{"a end=10000 3", "a end=10000 11", "a end=10000 43", "a end=20000 20", "a end=30000 64"}},
	}
	for _, c := range cases {
		for _, fn := range windowFns {
			t.Run(fmt.Sprintf("lateness=%v/%s", c.lateness, fn.name), func(t *testing.T) {
				env := newEnv()
				ws := weir.KeyBy(kvSource(env, recs, 0), kvKey).Window(window.TumblingEventTime(10 * time.Second)).AllowedLateness(c.lateness)
				sink := memory.NewSink[string]()
				weir.To(fn.apply(ws), sink)
				run(t, env)
				equalSeq(t, "firings", sink.Results(), c.want)
			})
		}
	}
}

// TestSessionLateMerge lets a late record (within the allowed lateness)
// merge with a session that has already fired: the merged session fires at
// once with both records.
func TestSessionLateMerge(t *testing.T) {
	recs := []kv{
		{"a", 0, 1},
		{"a", 3000, 2}, // watermark 2999: [0,1000) fires with 1
		{"a", 900, 4},  // [900,1900) merges with [0,1000) into [0,1900)
		{"a", 5000, 8}, // watermark 4999: [3000,4000) fires
		{"a", 200, 16}, // merges into [0,1900) again
	}
	for _, fn := range windowFns {
		t.Run(fn.name, func(t *testing.T) {
			env := newEnv()
			ws := weir.KeyBy(kvSource(env, recs, 0), kvKey).Window(window.EventTimeSession(time.Second)).AllowedLateness(10 * time.Second)
			sink := memory.NewSink[string]()
			weir.To(fn.apply(ws), sink)
			run(t, env)
			equalSeq(t, "firings", sink.Results(), []string{"a end=1000 1", "a end=1900 5", "a end=4000 2", "a end=1900 21", "a end=6000 8"})
		})
	}
}

// notifyCount counts records and reports every Add, which runs in the
// window operator's task, so a test knows the operator has the record.
type notifyCount struct{ added chan<- string }

func (notifyCount) CreateAccumulator() int64 { return 0 }
func (n notifyCount) Add(r kv, acc int64) int64 {
	n.added <- r.K
	return acc + 1
}
func (notifyCount) Result(acc int64) int64 { return acc }
func (notifyCount) Merge(a, b int64) int64 { return a + b }

// TestProcessingTimeWindows drives tumbling processing-time windows with the
// manual clock while the job runs.
func TestProcessingTimeWindows(t *testing.T) {
	clock := newManualClock(10_000)
	env := newEnv(weir.WithClock(clock), weir.WithParallelism(2))
	src := newPushSource[kv](1)
	added := make(chan string, 100)
	counts := weir.WindowAggregateProcess(
		weir.KeyBy(weir.FromSource(env, src, weir.NoWatermarks[kv]()).Parallelism(1), kvKey).Window(window.TumblingProcessingTime(time.Second)),
		notifyCount{added}, aggLabel[string, int64])
	sink := newLiveSink[string]()
	weir.To(counts, sink)
	done := runAsync(context.Background(), env, "processing-time windows")
	push := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			src.Push(0, kv{K: k}, weir.NoTimestamp)
		}
		for range keys {
			select {
			case <-added:
			case <-time.After(waitTimeout):
				t.Fatal("record never reached the window operator")
			}
		}
	}
	push("a", "a", "b")
	clock.WaitTimer(t, 10999)
	clock.Advance(998 * time.Millisecond) // 10998
	push("a")
	clock.Advance(time.Millisecond) // 10999, the window's last millisecond: it fires
	equalSorted(t, "first windows", sink.WaitLen(t, 2), []string{"a [10000, 11000) 3", "b [10000, 11000) 1"})
	clock.Advance(time.Millisecond) // 11000
	push("b")
	clock.WaitTimer(t, 11999)
	clock.Advance(500 * time.Millisecond)
	push("b", "a")
	clock.Advance(499 * time.Millisecond) // 11999: [11000, 12000) fires
	equalSorted(t, "second windows", sink.WaitLen(t, 4)[2:], []string{"a [11000, 12000) 1", "b [11000, 12000) 2"})
	clock.Advance(time.Millisecond)
	// The end of the input ends processing time: the open window fires.
	push("c")
	src.CloseAll()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	equalSorted(t, "last window", sink.Results()[4:], []string{"c [12000, 13000) 1"})
}

// TestProcessingTimeSessions merges processing-time sessions: a record
// within the gap extends the session, whose old timer must not fire.
func TestProcessingTimeSessions(t *testing.T) {
	clock := newManualClock(10_000)
	env := newEnv(weir.WithClock(clock))
	src := newPushSource[kv](1)
	added := make(chan string, 100)
	counts := weir.WindowAggregateProcess(
		weir.KeyBy(weir.FromSource(env, src, weir.NoWatermarks[kv]()), kvKey).Window(window.ProcessingTimeSession(time.Second)),
		notifyCount{added}, aggLabel[string, int64])
	sink := newLiveSink[string]()
	weir.To(counts, sink)
	done := runAsync(context.Background(), env, "processing-time sessions")
	push := func(k string) {
		t.Helper()
		src.Push(0, kv{K: k}, weir.NoTimestamp)
		select {
		case <-added:
		case <-time.After(waitTimeout):
			t.Fatal("record never reached the window operator")
		}
	}
	push("a") // a: [10000, 11000)
	clock.WaitTimer(t, 10999)
	clock.Advance(500 * time.Millisecond) // 10500
	push("a")                             // a: [10000, 11500)
	push("b")                             // b: [10500, 11500)
	clock.Advance(499 * time.Millisecond) // 10999: a's first session end has passed, merged away
	clock.WaitTimer(t, 11499)             // re-armed for a and b
	push("c")                             // c: [10999, 11999)
	clock.Advance(500 * time.Millisecond) // 11499: a and b end
	equalSorted(t, "sessions", sink.WaitLen(t, 2), []string{"a [10000, 11500) 2", "b [10500, 11500) 1"})
	clock.WaitTimer(t, 11998)             // re-armed for c
	clock.Advance(500 * time.Millisecond) // 11999: c ends
	equalSeq(t, "last session", sink.WaitLen(t, 3)[2:], []string{"c [10999, 11999) 1"})
	src.CloseAll()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Results()); n != 3 {
		t.Fatalf("%d results: %v", n, sink.Results())
	}
}

// TestWindowCascade feeds window results into a larger event-time window:
// results carry their window's last timestamp and precede the watermark
// that fired them, so none is late downstream.
func TestWindowCascade(t *testing.T) {
	recs := pipelineRecords()
	want := map[string]int64{}
	for _, r := range recs {
		want[fmt.Sprintf("%s [%d, %d)", r.K, r.TS/10000*10000, r.TS/10000*10000+10000)]++
	}
	var wantS []string
	for k, n := range want {
		wantS = append(wantS, fmt.Sprint(k, " ", n))
	}
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](100*time.Millisecond))
			perSecond := weir.WindowAggregateProcess(weir.KeyBy(src, kvKey).Window(window.TumblingEventTime(time.Second)), countAgg[kv]{},
				func(k string, _ window.TimeWindow, n int64, out weir.Collector[kv]) error {
					out.Collect(kv{K: k, V: n})
					return nil
				})
			per10 := weir.WindowAggregateProcess(weir.KeyBy(perSecond, kvKey).Window(window.TumblingEventTime(10*time.Second)), sumAgg{}, aggLabel[string, int64])
			sink := memory.NewSink[string]()
			weir.To(per10, sink)
			run(t, env)
			equalSorted(t, "10s counts from 1s counts", sink.Results(), wantS)
		})
	}
}

// TestSlidingWindowsPartlyLate: a record belongs to several sliding windows;
// it joins those that are not late and is dropped only when all are.
func TestSlidingWindowsPartlyLate(t *testing.T) {
	recs := []kv{
		{"a", 500, 1},  // [-1000,1000) and [0,2000)
		{"a", 3000, 2}, // watermark 2999: both windows fire
		{"a", 2500, 4}, // [1000,3000) is late, [2000,4000) is not
		{"a", 1500, 8}, // [0,2000) and [1000,3000): both late, dropped
	}
	for _, fn := range windowFns {
		t.Run(fn.name, func(t *testing.T) {
			env := newEnv()
			ws := weir.KeyBy(kvSource(env, recs, 0), kvKey).Window(window.SlidingEventTime(2*time.Second, time.Second))
			sink := memory.NewSink[string]()
			weir.To(fn.apply(ws), sink)
			run(t, env)
			equalSeq(t, "firings", sink.Results(), []string{"a end=1000 1", "a end=2000 1", "a end=4000 6", "a end=5000 2"})
		})
	}
}

// point is a struct key.
type point struct {
	X, Y int32
	Tag  string
}

// TestStructKeys partitions by a struct key: each key's records meet in one
// subtask and its window.
func TestStructKeys(t *testing.T) {
	var recs []kv
	for i := range 600 {
		recs = append(recs, kv{K: fmt.Sprint(i % 7), TS: int64(i), V: int64(i % 5)})
	}
	want := map[string]int{}
	for _, r := range recs {
		want[fmt.Sprintf("{%d %d %s} [0, 1000) ", r.V, -r.V, r.K)]++
	}
	var wantS []string
	for k, n := range want {
		wantS = append(wantS, fmt.Sprint(k, n))
	}
	for _, p := range []int{1, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](time.Second))
			keyed := weir.KeyBy(src, func(r kv) point { return point{int32(r.V), int32(-r.V), r.K} })
			counts := weir.WindowAggregateProcess(keyed.Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}, aggLabel[point, int64])
			sink := memory.NewSink[string]()
			weir.To(counts, sink)
			run(t, env)
			equalSorted(t, "counts per struct key", sink.Results(), wantS)
		})
	}
}
