package weir_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/window"
)

// tag is the right side of the join tests: another type than kv.
type tag struct {
	Key  string
	TS   int64
	Name string
}

func tagTS(t tag) int64       { return t.TS }
func tagKey(t tag) string     { return t.Key }
func vs(as []kv) []int64      { return mapSlice(as, func(a kv) int64 { return a.V }) }
func names(bs []tag) []string { return mapSlice(bs, func(b tag) string { return b.Name }) }

func mapSlice[A, B any](s []A, f func(A) B) []B {
	out := []B{}
	for _, v := range s {
		out = append(out, f(v))
	}
	return out
}

var (
	joinLeft  = []kv{{"a", 100, 1}, {"a", 900, 2}, {"b", 1500, 3}, {"c", 200, 4}}
	joinRight = []tag{{"a", 500, "x"}, {"a", 1200, "y"}, {"b", 1999, "z"}, {"b", 2000, "w"}, {"d", 100, "q"}}
)

func joinInputs(env *weir.Environment) (weir.KeyedStream[string, kv], weir.KeyedStream[string, tag]) {
	left := weir.FromSource(env, memory.NewSource(joinLeft, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](time.Second))
	right := weir.FromSource(env, memory.NewSource(joinRight, memory.WithTimestamps(tagTS)), weir.BoundedOutOfOrderness[tag](time.Second))
	return weir.KeyBy(left, kvKey), weir.KeyBy(right, tagKey)
}

func TestWindowJoin(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			l, r := joinInputs(env)
			joined := weir.WindowJoin(weir.JoinWindows(l, r, window.TumblingEventTime(time.Second)), func(a kv, b tag) string {
				return fmt.Sprintf("%s %d %s", a.K, a.V, b.Name)
			})
			sink := memory.NewSink[string]()
			weir.To(joined, sink)
			run(t, env)
			equalSorted(t, "inner join", sink.Results(), []string{"a 1 x", "a 2 x", "b 3 z"})
		})
	}
}

func TestWindowCoGroup(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			l, r := joinInputs(env)
			grouped := weir.WindowCoGroup(weir.JoinWindows(l, r, window.TumblingEventTime(time.Second)),
				func(k string, w window.TimeWindow, as []kv, bs []tag, out weir.Collector[string]) error {
					a, b := vs(as), names(bs)
					slices.Sort(a)
					slices.Sort(b)
					out.Collect(fmt.Sprintf("%s %v %v %v", k, w, a, b))
					return nil
				})
			sink := memory.NewSink[string]()
			weir.To(grouped, sink)
			run(t, env)
			equalSorted(t, "co-group", sink.Results(), []string{
				"a [0, 1000) [1 2] [x]",
				"c [0, 1000) [4] []",
				"d [0, 1000) [] [q]",
				"a [1000, 2000) [] [y]",
				"b [1000, 2000) [3] [z]",
				"b [2000, 3000) [] [w]",
			})
		})
	}
}

// intervalRecords are sorted by timestamp, so that no record is ever late
// whatever the parallelism and pacing.
func intervalRecords() ([]kv, []tag) {
	var left []kv
	var right []tag
	for i := range 200 {
		left = append(left, kv{K: fmt.Sprint("k", i%3), TS: int64(i) * 250, V: int64(i)})
	}
	for i := range 120 {
		right = append(right, tag{Key: fmt.Sprint("k", i%4), TS: int64(i)*400 + 100*int64(i%3), Name: fmt.Sprint("r", i)})
	}
	slices.SortStableFunc(right, func(a, b tag) int { return int(a.TS - b.TS) })
	return left, right
}

// intervalExpect joins by the definition: b.ts - a.ts in [lo, hi].
func intervalExpect(left []kv, right []tag, lo, hi int64) []string {
	var out []string
	for _, a := range left {
		for _, b := range right {
			if d := b.TS - a.TS; a.K == b.Key && d >= lo && d <= hi {
				out = append(out, fmt.Sprintf("%s %d %s ts=%d", a.K, a.V, b.Name, max(a.TS, b.TS)))
			}
		}
	}
	return out
}

func TestIntervalJoin(t *testing.T) {
	left, right := intervalRecords()
	cases := []struct {
		name   string
		iv     weir.Interval
		lo, hi int64
	}{
		{"inclusive", weir.Interval{Lower: -time.Second, Upper: time.Second}, -1000, 1000},
		{"exclusive", weir.Interval{Lower: -time.Second, Upper: time.Second, LowerExclusive: true, UpperExclusive: true}, -999, 999},
		{"lower exclusive", weir.Interval{Lower: 0, Upper: 500 * time.Millisecond, LowerExclusive: true}, 1, 500},
		{"negative", weir.Interval{Lower: -2 * time.Second, Upper: -time.Second}, -2000, -1000},
		{"positive", weir.Interval{Lower: 250 * time.Millisecond, Upper: 1250 * time.Millisecond}, 250, 1250},
		{"point", weir.Interval{}, 0, 0},
	}
	for _, c := range cases {
		want := intervalExpect(left, right, c.lo, c.hi)
		if len(want) == 0 {
			t.Fatalf("%s: the test data produce no pairs", c.name)
		}
		// Identical results whatever the watermark frequency: a watermark
		// after every record, every 7 records or every 1024. Early state
		// cleanup would lose pairs when watermarks are frequent.
		for _, pace := range []int{1, 7, 1024} {
			for _, p := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/pace=%d/p=%d", c.name, pace, p), func(t *testing.T) {
					env := newEnv(weir.WithParallelism(p))
					l := weir.FromSource(env, memory.NewSource(left, memory.WithTimestamps(kvTS), memory.WithPacing[kv](pace, 0)), weir.BoundedOutOfOrderness[kv](0))
					r := weir.FromSource(env, memory.NewSource(right, memory.WithTimestamps(tagTS), memory.WithPacing[tag](pace, 0)), weir.BoundedOutOfOrderness[tag](0))
					joined := weir.IntervalJoin(weir.KeyBy(l, kvKey), weir.KeyBy(r, tagKey), c.iv,
						func(a kv, b tag, ts int64, out weir.Collector[string]) error {
							out.Collect(fmt.Sprintf("%s %d %s ts=%d", a.K, a.V, b.Name, ts))
							return nil
						})
					// The results carry the later of the two timestamps.
					checked := weir.Process(weir.KeyBy(joined, func(string) int { return 0 }), weir.ProcessFunc[int, string, string](
						func(ctx *weir.KeyedContext[int], s string, out weir.Collector[string]) error {
							if want := fmt.Sprintf("ts=%d", ctx.Timestamp()); s[len(s)-len(want):] != want {
								return fmt.Errorf("result %q has timestamp %d", s, ctx.Timestamp())
							}
							out.Collect(s)
							return nil
						}))
					sink := memory.NewSink[string]()
					weir.To(checked, sink)
					run(t, env)
					equalSorted(t, "pairs", sink.Results(), want)
				})
			}
		}
	}
}

func TestIntervalJoinBoundsValidation(t *testing.T) {
	env := newEnv()
	l, r := joinInputs(env)
	weir.To(weir.IntervalJoin(l, r, weir.Interval{Lower: time.Second, Upper: 0}, func(kv, tag, int64, weir.Collector[int]) error { return nil }), memory.NewSink[int]())
	if _, err := env.Plan(); err == nil {
		t.Fatal("an interval whose lower bound is after its upper bound was accepted")
	}
	env = newEnv()
	l, r = joinInputs(env)
	weir.To(weir.IntervalJoin(l, r, weir.Interval{Lower: 0, Upper: 0, UpperExclusive: true}, func(kv, tag, int64, weir.Collector[int]) error { return nil }), memory.NewSink[int]())
	if _, err := env.Plan(); err == nil {
		t.Fatal("an empty interval [0, 0) was accepted")
	}
}

// merger tags records of two streams of different types.
type merger struct{}

func (merger) ProcessElement1(ctx *weir.OperatorContext, v int, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("int %d ts=%d", v, ctx.Timestamp()))
	return nil
}

func (merger) ProcessElement2(ctx *weir.OperatorContext, s tag, out weir.Collector[string]) error {
	out.Collect(fmt.Sprintf("tag %s ts=%d", s.Name, ctx.Timestamp()))
	return nil
}

func TestConnectCoProcess(t *testing.T) {
	for _, p := range []int{1, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			a := weir.FromSource(env, memory.NewSource(ints(0, 50), memory.WithTimestamps(func(v int) int64 { return int64(v) * 10 })), weir.NoWatermarks[int]())
			b := weir.FromSource(env, memory.NewSource(joinRight, memory.WithTimestamps(tagTS)), weir.NoWatermarks[tag]()).Parallelism(1)
			sink := memory.NewSink[string]()
			weir.To(weir.CoProcess(weir.Connect(a, b), merger{}), sink)
			run(t, env)
			var want []string
			for v := range 50 {
				want = append(want, fmt.Sprintf("int %d ts=%d", v, v*10))
			}
			for _, r := range joinRight {
				want = append(want, fmt.Sprintf("tag %s ts=%d", r.Name, r.TS))
			}
			equalSorted(t, "co-process", sink.Results(), want)
		})
	}
}

// enrich multiplies events (input 2) by their key's factor (input 1). Events
// that arrive before their key's factor wait in list state, so the result
// does not depend on how the inputs interleave. Both inputs share the key's
// state.
type enrich struct {
	factor  state.Value[int64]
	pending state.List[kv]
}

func (f *enrich) Open(ctx *weir.KeyedContext[string]) error {
	var err error
	if f.factor, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "factor"}); err != nil {
		return err
	}
	f.pending, err = state.GetList(ctx, state.ListDescriptor[kv]{Name: "pending"})
	return err
}

func (f *enrich) ProcessElement1(ctx *weir.KeyedContext[string], rule tag, out weir.Collector[string]) error {
	var factor int64
	if _, err := fmt.Sscan(rule.Name, &factor); err != nil {
		return err
	}
	f.factor.Update(factor)
	for e := range f.pending.All() {
		out.Collect(fmt.Sprintf("%s %d", ctx.CurrentKey(), e.V*factor))
	}
	f.pending.Clear()
	return nil
}

func (f *enrich) ProcessElement2(ctx *weir.KeyedContext[string], e kv, out weir.Collector[string]) error {
	if factor, ok := f.factor.Value(); ok {
		out.Collect(fmt.Sprintf("%s %d", ctx.CurrentKey(), e.V*factor))
		return nil
	}
	f.pending.Add(e)
	return nil
}

func TestConnectKeyedSharedState(t *testing.T) {
	rules := []tag{{"a", 0, "10"}, {"b", 0, "100"}, {"c", 0, "1000"}}
	var events []kv
	for i := range 300 {
		events = append(events, kv{K: []string{"a", "b", "c", "d"}[i%4], V: int64(i)})
	}
	var want []string
	for _, e := range events {
		if f := map[string]int64{"a": 10, "b": 100, "c": 1000}[e.K]; f != 0 {
			want = append(want, fmt.Sprintf("%s %d", e.K, e.V*f))
		}
	}
	for _, p := range []int{1, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			r := weir.FromSource(env, memory.NewSource(rules), weir.NoWatermarks[tag]()).Parallelism(1)
			e := weir.FromSource(env, memory.NewSource(events), weir.NoWatermarks[kv]())
			sink := memory.NewSink[string]()
			weir.To(weir.KeyedCoProcess(weir.ConnectKeyed(weir.KeyBy(r, tagKey), weir.KeyBy(e, kvKey)), &enrich{}), sink)
			run(t, env)
			equalSorted(t, "enriched", sink.Results(), want)
		})
	}
}
