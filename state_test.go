package weir_test

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/state"
)

// allStates keeps every kind of keyed state in fields set by Open, so each
// subtask needs its own copy of the function.
type allStates struct {
	opens *atomic.Int64

	count state.Value[int64]
	vals  state.List[int64]
	mods  state.Map[int64, int64]
	sum   state.Reducing[int64]
	max   state.Aggregating[int64, int64]
}

type maxAgg struct{}

func (maxAgg) CreateAccumulator() int64    { return math.MinInt64 }
func (maxAgg) Add(v, acc int64) int64      { return max(v, acc) }
func (maxAgg) Result(acc int64) int64      { return acc }
func (maxAgg) Merge(a, b int64) int64      { return max(a, b) }
func add(a, b int64) int64                 { return a + b }
func keyOfInt(v int64) int64               { return v % 10 }
func summary(k int64, parts ...any) string { return sprint(append([]any{k}, parts...)...) }

func (f *allStates) Open(ctx *weir.KeyedContext[int64]) error {
	f.opens.Add(1)
	var err error
	if f.count, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "count"}); err != nil {
		return err
	}
	if f.vals, err = state.GetList(ctx, state.ListDescriptor[int64]{Name: "values"}); err != nil {
		return err
	}
	if f.mods, err = state.GetMap(ctx, state.MapDescriptor[int64, int64]{Name: "mod3"}); err != nil {
		return err
	}
	if f.sum, err = state.GetReducing(ctx, state.ReducingDescriptor[int64]{Name: "sum", Reduce: add}); err != nil {
		return err
	}
	f.max, err = state.GetAggregating(ctx, state.AggregatingDescriptor[int64, int64, int64]{Name: "max", Aggregate: maxAgg{}})
	return err
}

func (f *allStates) ProcessElement(ctx *weir.KeyedContext[int64], v int64, _ weir.Collector[string]) error {
	n, _ := f.count.Value()
	if n == 0 {
		// Report the key's state once the input has ended.
		ctx.RegisterEventTimeTimer(math.MaxInt64)
	}
	f.count.Update(n + 1)
	f.vals.Add(v)
	m, _ := f.mods.Get(v % 3)
	f.mods.Put(v%3, m+1)
	f.sum.Add(v)
	f.max.Add(v)
	return nil
}

func (f *allStates) OnTimer(ctx *weir.KeyedContext[int64], _ int64, out weir.Collector[string]) error {
	n, _ := f.count.Value()
	vals := slices.Sorted(f.vals.All())
	var mods []string
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(f.mods.All()))) {
		c, _ := f.mods.Get(k)
		mods = append(mods, fmt.Sprintf("%d=%d", k, c))
	}
	s, _ := f.sum.Get()
	m, _ := f.max.Get()
	out.Collect(summary(ctx.CurrentKey(), n, fmt.Sprint(vals), strings.Join(mods, ","), s, m))
	return nil
}

// TestKeyedStateKinds uses every kind of keyed state from a pointer-to-struct
// function whose Open stores the handles in fields: at parallelism 4 every
// subtask must get its own copy, and every key its own state.
func TestKeyedStateKinds(t *testing.T) {
	input := ints(0, 500)
	var in64 []int64
	for _, v := range input {
		in64 = append(in64, int64(v))
	}
	var want []string
	for k := range int64(10) {
		var vals []int64
		mods := map[int64]int64{}
		var sum int64
		for _, v := range in64 {
			if v%10 == k {
				vals = append(vals, v)
				mods[v%3]++
				sum += v
			}
		}
		var ms []string
		for _, m := range slices.Sorted(maps.Keys(mods)) {
			ms = append(ms, fmt.Sprintf("%d=%d", m, mods[m]))
		}
		want = append(want, summary(k, len(vals), fmt.Sprint(vals), strings.Join(ms, ","), sum, slices.Max(vals)))
	}
	for _, p := range []int{1, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			src := weir.FromSource(env, memory.NewSource(in64), weir.NoWatermarks[int64]())
			opens := &atomic.Int64{}
			out := weir.Process(weir.KeyBy(src, keyOfInt), &allStates{opens: opens})
			sink := memory.NewSink[string]()
			weir.To(out, sink)
			run(t, env)
			equalSorted(t, "state per key", sink.Results(), want)
			if n := opens.Load(); n != int64(p) {
				t.Errorf("Open called %d times, want once per subtask (%d)", n, p)
			}
		})
	}
}

// cmd is a step of a scripted keyed function: an operation on the key's
// state, or an advance of the manual clock by Arg milliseconds.
type cmd struct {
	Key string
	Op  string
	Arg int64
}

// ttlScript runs state operations with TTLs; it advances the job's manual
// clock itself, so processing time moves exactly between the records of a
// single-subtask job.
type ttlScript struct {
	clock *manualClock

	plain, refresh   state.Value[int64]
	list, listR      state.List[int64]
	mapPlain, mapRef state.Map[string, int64]
}

const ttl = 100 * time.Millisecond

func (f *ttlScript) Open(ctx *weir.KeyedContext[string]) error {
	var err error
	if f.plain, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "plain", TTL: state.TTL{Duration: ttl}}); err != nil {
		return err
	}
	if f.refresh, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "refresh", TTL: state.TTL{Duration: ttl, RefreshOnRead: true}}); err != nil {
		return err
	}
	if f.list, err = state.GetList(ctx, state.ListDescriptor[int64]{Name: "list", TTL: state.TTL{Duration: ttl}}); err != nil {
		return err
	}
	if f.listR, err = state.GetList(ctx, state.ListDescriptor[int64]{Name: "list-refresh", TTL: state.TTL{Duration: ttl, RefreshOnRead: true}}); err != nil {
		return err
	}
	if f.mapPlain, err = state.GetMap(ctx, state.MapDescriptor[string, int64]{Name: "map", TTL: state.TTL{Duration: ttl}}); err != nil {
		return err
	}
	f.mapRef, err = state.GetMap(ctx, state.MapDescriptor[string, int64]{Name: "map-refresh", TTL: state.TTL{Duration: ttl, RefreshOnRead: true}})
	return err
}

func show[T any](v T, ok bool) string {
	if !ok {
		return "absent"
	}
	return fmt.Sprint(v)
}

func (f *ttlScript) ProcessElement(ctx *weir.KeyedContext[string], c cmd, out weir.Collector[string]) error {
	var res string
	switch c.Op {
	case "advance":
		f.clock.Advance(time.Duration(c.Arg) * time.Millisecond)
		return nil
	case "put":
		f.plain.Update(c.Arg)
		f.refresh.Update(c.Arg)
		return nil
	case "get":
		res = show(f.plain.Value()) + "/" + show(f.refresh.Value())
	case "add":
		f.list.Add(c.Arg)
		f.listR.Add(c.Arg)
		return nil
	case "list":
		res = fmt.Sprint(slices.Collect(f.list.All())) + "/" + fmt.Sprint(slices.Collect(f.listR.All()))
	case "mput":
		f.mapPlain.Put(fmt.Sprint(c.Arg), c.Arg)
		f.mapRef.Put(fmt.Sprint(c.Arg), c.Arg)
		return nil
	case "mget":
		res = show(f.mapPlain.Get(fmt.Sprint(c.Arg))) + "/" + show(f.mapRef.Get(fmt.Sprint(c.Arg)))
	case "mall":
		a := slices.Sorted(maps.Keys(maps.Collect(f.mapPlain.All())))
		b := slices.Sorted(maps.Keys(maps.Collect(f.mapRef.All())))
		res = fmt.Sprint(a) + "/" + fmt.Sprint(b)
	default:
		return fmt.Errorf("unknown op %q", c.Op)
	}
	out.Collect(ctx.CurrentKey() + " " + c.Op + " " + res)
	return nil
}

// TestStateTTL checks expiry in processing time with a manual clock: an
// entry lives exactly the TTL after its last write, or after its last read
// with RefreshOnRead, and TTL is per key.
func TestStateTTL(t *testing.T) {
	script := []cmd{
		// Value: a written at 0, b at 50; at 99 both of a live; at 100 the
		// plain one is gone while the refreshed one (read at 99) lives on
		// as long as it is read within the TTL.
		{"a", "put", 7}, {"a", "advance", 50}, {"b", "put", 8},
		{"a", "advance", 49}, {"a", "get", 0},
		{"a", "advance", 1}, {"a", "get", 0}, {"b", "get", 0},
		{"a", "advance", 98}, {"a", "get", 0},
		{"a", "advance", 100}, {"a", "get", 0},
		// A write restarts the lifetime.
		{"a", "put", 1}, {"a", "advance", 80}, {"a", "put", 2}, {"a", "advance", 80}, {"a", "get", 0},
		{"a", "advance", 20}, {"a", "get", 0},
		// List: elements expire one by one; reading refreshes with
		// RefreshOnRead.
		{"l", "add", 1}, {"l", "advance", 50}, {"l", "add", 2}, {"l", "advance", 49}, {"l", "list", 0},
		{"l", "advance", 1}, {"l", "list", 0},
		{"l", "advance", 99}, {"l", "list", 0},
		{"l", "advance", 100}, {"l", "list", 0},
		// Map: entries expire individually; Get and iteration refresh with
		// RefreshOnRead.
		{"m", "mput", 1}, {"m", "advance", 50}, {"m", "mput", 2}, {"m", "advance", 50},
		{"m", "mget", 1}, {"m", "mget", 2}, {"m", "mall", 0},
		{"m", "advance", 99}, {"m", "mall", 0},
		{"m", "advance", 99}, {"m", "mall", 0},
		{"m", "advance", 100}, {"m", "mall", 0},
	}
	want := []string{
		"a get 7/7",
		"a get absent/7", "b get 8/8",
		"a get absent/7",
		"a get absent/absent",
		"a get 2/2",
		"a get absent/2",
		"l list [1 2]/[1 2]",
		"l list [2]/[1 2]",
		"l list []/[1 2]",
		"l list []/[]",
		"m mget absent/absent", "m mget 2/2", "m mall [2]/[2]",
		"m mall []/[2]",
		"m mall []/[2]",
		"m mall []/[]",
	}
	clock := newManualClock(1_000_000)
	env := newEnv(weir.WithClock(clock))
	src := weir.FromSource(env, memory.NewSource(script), weir.NoWatermarks[cmd]())
	out := weir.Process(weir.KeyBy(src, func(c cmd) string { return c.Key }), &ttlScript{clock: clock})
	sink := memory.NewSink[string]()
	weir.To(out, sink)
	run(t, env)
	equalSeq(t, "TTL script", sink.Results(), want)
}

// stateClash registers two states under one name in Open.
type stateClash struct {
	register func(ctx *weir.KeyedContext[int64]) error
}

func (f stateClash) Open(ctx *weir.KeyedContext[int64]) error { return f.register(ctx) }
func (stateClash) ProcessElement(*weir.KeyedContext[int64], int64, weir.Collector[int64]) error {
	return nil
}

func TestStateRegistration(t *testing.T) {
	value := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "s"})
		return err
	}
	list := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetList(ctx, state.ListDescriptor[int64]{Name: "s"})
		return err
	}
	mapped := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetMap(ctx, state.MapDescriptor[int64, int64]{Name: "s"})
		return err
	}
	reducing := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetReducing(ctx, state.ReducingDescriptor[int64]{Name: "s", Reduce: add})
		return err
	}
	aggregating := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetAggregating(ctx, state.AggregatingDescriptor[int64, int64, int64]{Name: "s", Aggregate: maxAgg{}})
		return err
	}
	stringValue := func(ctx *weir.KeyedContext[int64]) error {
		_, err := state.GetValue(ctx, state.ValueDescriptor[string]{Name: "s"})
		return err
	}
	both := func(a, b func(*weir.KeyedContext[int64]) error) func(*weir.KeyedContext[int64]) error {
		return func(ctx *weir.KeyedContext[int64]) error {
			if err := a(ctx); err != nil {
				return err
			}
			return b(ctx)
		}
	}
	cases := []struct {
		name     string
		register func(*weir.KeyedContext[int64]) error
		want     string // "" means no error
	}{
		{"value twice", both(value, value), ""},
		{"list twice", both(list, list), ""},
		{"value then list", both(value, list), `state "s" is already registered as value state`},
		{"list then map", both(list, mapped), `state "s" is already registered as list state`},
		{"map then value", both(mapped, value), `state "s" is already registered as map state`},
		{"value then reducing", both(value, reducing), `state "s" is already registered as value state`},
		{"reducing then aggregating", both(reducing, aggregating), `state "s" is already registered as reducing state`},
		{"aggregating then value", both(aggregating, value), `state "s" is already registered as aggregating state`},
		{"value of another type", both(value, stringValue), `state "s" is already registered as value state`},
		{"no name", func(ctx *weir.KeyedContext[int64]) error {
			_, err := state.GetValue(ctx, state.ValueDescriptor[int64]{})
			return err
		}, "needs a name"},
		{"reducing without a function", func(ctx *weir.KeyedContext[int64]) error {
			_, err := state.GetReducing(ctx, state.ReducingDescriptor[int64]{Name: "r"})
			return err
		}, "needs a Reduce function"},
		{"negative TTL", func(ctx *weir.KeyedContext[int64]) error {
			_, err := state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "v", TTL: state.TTL{Duration: -time.Second}})
			return err
		}, "negative TTL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv()
			src := weir.FromSource(env, memory.NewSource([]int64{1, 2, 3}), weir.NoWatermarks[int64]())
			weir.To(weir.Process(weir.KeyBy(src, keyOfInt), stateClash{c.register}), memory.NewSink[int64]())
			err := env.Execute(t.Context(), "clash")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Execute: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Execute = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// sharedHandles gets the same state twice under one name: both handles
// address one state.
type sharedHandles struct {
	a, b state.Value[int64]
}

func (f *sharedHandles) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	if f.a, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "n"}); err != nil {
		return err
	}
	f.b, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "n"})
	return err
}

func (f *sharedHandles) ProcessElement(_ *weir.KeyedContext[int64], v int64, out weir.Collector[int64]) error {
	n, _ := f.a.Value()
	f.b.Update(n + 1)
	if v >= 90 {
		m, _ := f.b.Value()
		out.Collect(m)
	}
	return nil
}

func TestStateSameNameSharesState(t *testing.T) {
	env := newEnv()
	src := weir.FromSource(env, memory.NewSource(func() []int64 {
		var s []int64
		for _, v := range ints(0, 100) {
			s = append(s, int64(v))
		}
		return s
	}()), weir.NoWatermarks[int64]())
	sink := memory.NewSink[int64]()
	weir.To(weir.Process(weir.KeyBy(src, keyOfInt), &sharedHandles{}), sink)
	run(t, env)
	// Each of the ten keys has seen ten records by its record >= 90.
	equalSeq(t, "counts", sink.Results(), []int64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10})
}

// TestRollingReduceAndAggregate checks the running Reduce and Aggregate of a
// keyed stream, per key in arrival order (one subtask, so in input order).
func TestRollingReduceAndAggregate(t *testing.T) {
	env := newEnv()
	src := weir.FromSource(env, memory.NewSource([]kv{{"a", 0, 1}, {"b", 0, 10}, {"a", 0, 2}, {"a", 0, 3}, {"b", 0, 20}}), weir.NoWatermarks[kv]())
	keyed := weir.KeyBy(src, kvKey)
	sums := weir.Map(keyed.Reduce(func(x, y kv) kv { return kv{K: x.K, V: x.V + y.V} }), func(r kv) string { return sprint(r.K, r.V) })
	counts := weir.Aggregate(keyed, countAgg[kv]{})
	s1, s2 := memory.NewSink[string](), memory.NewSink[int64]()
	weir.To(sums, s1)
	weir.To(counts, s2)
	run(t, env)
	equalSeq(t, "running sums", s1.Results(), []string{"a:1", "b:10", "a:3", "a:6", "b:30"})
	equalSeq(t, "running counts", s2.Results(), []int64{1, 1, 2, 3, 2})
}
