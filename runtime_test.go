package weir_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/window"
)

func ints(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// planRows returns what the chaining tests compare: name, chain head,
// parallelism and the partitioners of the node's inputs.
func planRows(t *testing.T, env *weir.Environment) []string {
	t.Helper()
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, n := range plan {
		var parts []string
		for _, in := range n.Inputs {
			parts = append(parts, in.Partition)
		}
		rows = append(rows, fmt.Sprintf("%s head=%v p=%d in=%s", n.Name, n.ChainHead, n.Parallelism, strings.Join(parts, ",")))
	}
	return rows
}

func TestPlanChaining(t *testing.T) {
	id := func(v int) int { return v }
	keep := func(int) bool { return true }
	keyed := func(v int) int { return v % 3 }
	count := weir.ProcessFunc[int, int, int](func(_ *weir.KeyedContext[int], v int, out weir.Collector[int]) error {
		out.Collect(v)
		return nil
	})
	cases := []struct {
		name  string
		build func(env *weir.Environment)
		want  []string
	}{
		{
			name: "map filter sink chain onto the source",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				weir.To(weir.Map(src, id).Name("map").Filter(keep).Name("filter"), memory.NewSink[int]()).Name("sink")
			},
			want: []string{"src head=true p=2 in=", "map head=false p=2 in=FORWARD", "filter head=false p=2 in=FORWARD", "sink head=false p=2 in=FORWARD"},
		},
		{
			name: "keyBy breaks the chain, the sink chains onto the keyed operator",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				p := weir.Process(weir.KeyBy(weir.Map(src, id).Name("map"), keyed), count).Name("proc")
				weir.To(p, memory.NewSink[int]()).Name("sink")
			},
			want: []string{"src head=true p=2 in=", "map head=false p=2 in=FORWARD", "proc head=true p=2 in=HASH", "sink head=false p=2 in=FORWARD"},
		},
		{
			name: "a parallelism change breaks the chain with a rebalance",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				m := weir.Map(src, id).Name("map").Parallelism(3)
				weir.To(m, memory.NewSink[int]()).Name("sink").Parallelism(3)
			},
			want: []string{"src head=true p=2 in=", "map head=true p=3 in=REBALANCE", "sink head=false p=3 in=FORWARD"},
		},
		{
			name: "DisableChaining isolates the operator on both sides",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				m := weir.Map(src, id).Name("map").DisableChaining()
				weir.To(weir.Map(m, id).Name("map2"), memory.NewSink[int]()).Name("sink")
			},
			want: []string{"src head=true p=2 in=", "map head=true p=2 in=FORWARD", "map2 head=true p=2 in=FORWARD", "sink head=false p=2 in=FORWARD"},
		},
		{
			name: "a sink with DisableChaining",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				weir.To(src, memory.NewSink[int]()).Name("sink").DisableChaining()
			},
			want: []string{"src head=true p=2 in=", "sink head=true p=2 in=FORWARD"},
		},
		{
			name: "rebalance and broadcast do not chain even at equal parallelism",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				m := weir.Map(src.Rebalance(), id).Name("map")
				weir.To(m.Broadcast(), memory.NewSink[int]()).Name("sink")
			},
			want: []string{"src head=true p=2 in=", "map head=true p=2 in=REBALANCE", "sink head=true p=2 in=BROADCAST"},
		},
		{
			name: "a union's consumer heads a chain",
			build: func(env *weir.Environment) {
				a := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("a")
				b := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("b").Parallelism(1)
				weir.To(weir.Map(weir.Union(a, b), id).Name("map"), memory.NewSink[int]()).Name("sink")
			},
			want: []string{"a head=true p=2 in=", "b head=true p=1 in=", "map head=true p=2 in=FORWARD,REBALANCE", "sink head=false p=2 in=FORWARD"},
		},
		{
			name: "a fan-out chains both branches",
			build: func(env *weir.Environment) {
				src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Name("src")
				weir.To(weir.Map(src, id).Name("m1"), memory.NewSink[int]()).Name("s1")
				weir.To(weir.Map(src, id).Name("m2"), memory.NewSink[int]()).Name("s2")
			},
			want: []string{"src head=true p=2 in=", "m1 head=false p=2 in=FORWARD", "s1 head=false p=2 in=FORWARD", "m2 head=false p=2 in=FORWARD", "s2 head=false p=2 in=FORWARD"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(weir.WithParallelism(2))
			c.build(env)
			equalSeq(t, "plan", planRows(t, env), c.want)
		})
	}
}

// TestUnionKeepsEachInputsPartitioning: as in Flink, each stream of a union
// keeps the partitioning it asked for.
func TestUnionKeepsEachInputsPartitioning(t *testing.T) {
	env := weir.NewEnvironment(weir.WithParallelism(2))
	a := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).UID("a")
	b := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).UID("b")
	sink := memory.NewSink[int]()
	weir.To(weir.Union(a.Rebalance(), b), sink).UID("sink")
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]string{}
	for _, n := range plan {
		if n.UID == "sink" {
			for _, in := range n.Inputs {
				parts[in.ID] = in.Partition
			}
		}
	}
	if parts[plan[0].ID] != "REBALANCE" || parts[plan[1].ID] != "FORWARD" {
		t.Fatalf("union inputs partitioned %v", parts)
	}
	if err := env.Execute(context.Background(), "union"); err != nil {
		t.Fatal(err)
	}
	if got := len(sink.Results()); got != 20 {
		t.Fatalf("%d records, want 20", got)
	}
}

func TestPlanErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(env *weir.Environment)
		want  string
	}{
		{"forward across a parallelism change", func(env *weir.Environment) {
			src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]())
			weir.To(src.Forward(), memory.NewSink[int]()).Parallelism(3)
		}, "forward edge"},
		{"no sink", func(env *weir.Environment) {
			weir.Map(weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()), func(v int) int { return v })
		}, "no sink"},
		{"no operators", func(*weir.Environment) {}, "no operators"},
		{"zero parallelism", func(env *weir.Environment) {
			src := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]()).Parallelism(0)
			weir.To(src, memory.NewSink[int]())
		}, "parallelism must be at least 1"},
		{"UID on a union", func(env *weir.Environment) {
			a := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]())
			b := weir.FromSource(env, memory.NewSource(ints(0, 10)), weir.NoWatermarks[int]())
			weir.To(weir.Union(a, b).UID("u"), memory.NewSink[int]())
		}, "union of streams has no operator"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(weir.WithParallelism(2))
			c.build(env)
			if _, err := env.Plan(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Plan error = %v, want one containing %q", err, c.want)
			}
			if err := env.Execute(t.Context(), "bad"); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Execute error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestHashPartitioning checks that every record of a key is processed by one
// subtask, the one that owns the key's hash.
func TestHashPartitioning(t *testing.T) {
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	var recs []kv
	for i := range 2000 {
		recs = append(recs, kv{K: fmt.Sprintf("key-%d", i%37), V: int64(i)})
	}
	for _, p := range []int{1, 3, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			src := weir.FromSource(env, memory.NewSource(recs), weir.NoWatermarks[kv]()).Parallelism(2)
			where := weir.Process(weir.KeyBy(src, kvKey), weir.ProcessFunc[string, kv, tagged[string]](
				func(ctx *weir.KeyedContext[string], v kv, out weir.Collector[tagged[string]]) error {
					if ctx.CurrentKey() != v.K {
						return fmt.Errorf("CurrentKey %q for record of key %q", ctx.CurrentKey(), v.K)
					}
					out.Collect(tagged[string]{ctx.Subtask(), v.K})
					return nil
				}))
			sink := memory.NewSink[tagged[string]]()
			weir.To(where, sink)
			run(t, env)
			got := sink.Results()
			if len(got) != len(recs) {
				t.Fatalf("%d records processed, want %d", len(got), len(recs))
			}
			subtasks := map[string]map[int]bool{}
			for _, r := range got {
				if subtasks[r.V] == nil {
					subtasks[r.V] = map[int]bool{}
				}
				subtasks[r.V][r.Subtask] = true
			}
			used := map[int]bool{}
			for k, s := range subtasks {
				want := keyspace.Owner(hash(k), p)
				if len(s) != 1 || !s[want] {
					t.Errorf("key %q processed by subtasks %v, want only %d", k, s, want)
				}
				used[want] = true
			}
			if len(used) != p {
				t.Errorf("37 keys used %d of %d subtasks", len(used), p)
			}
		})
	}
}

func TestRebalanceSpreadsEvenly(t *testing.T) {
	env := newEnv()
	src := weir.FromSource(env, memory.NewSource(ints(0, 1000)), weir.NoWatermarks[int]())
	sink := &subtaskSink[int]{}
	weir.To(src.Rebalance(), sink).Parallelism(4)
	run(t, env)
	per := map[int]int{}
	var vals []int
	for _, r := range sink.Results() {
		per[r.Subtask]++
		vals = append(vals, r.V)
	}
	equalSorted(t, "rebalanced records", vals, ints(0, 1000))
	for i := range 4 {
		if per[i] != 250 {
			t.Errorf("subtask %d got %d records, want 250 (round robin of 1000 over 4)", i, per[i])
		}
	}
}

func TestBroadcastDuplicatesToAllSubtasks(t *testing.T) {
	env := newEnv()
	src := weir.FromSource(env, memory.NewSource(ints(0, 700)), weir.NoWatermarks[int]()).Parallelism(2)
	sink := &subtaskSink[int]{}
	weir.To(src.Broadcast(), sink).Parallelism(3)
	run(t, env)
	per := map[int][]int{}
	for _, r := range sink.Results() {
		per[r.Subtask] = append(per[r.Subtask], r.V)
	}
	if len(per) != 3 {
		t.Fatalf("records reached %d subtasks, want 3", len(per))
	}
	for i := range 3 {
		equalSorted(t, fmt.Sprint("subtask ", i), per[i], ints(0, 700))
	}
}

// TestForwardKeepsSubtasks checks that forward edges connect subtask i to
// subtask i: the memory source's subtask i of 4 emits the elements
// congruent to i modulo 4.
func TestForwardKeepsSubtasks(t *testing.T) {
	env := newEnv(weir.WithParallelism(4))
	src := weir.FromSource(env, memory.NewSource(ints(0, 400)), weir.NoWatermarks[int]())
	m := weir.Map(src.Forward(), func(v int) int { return v }).DisableChaining()
	sink := &subtaskSink[int]{}
	weir.To(m.Forward(), sink).DisableChaining()
	if rows := planRows(t, env); rows[1] != "Map head=true p=4 in=FORWARD" || rows[2] != "Sink head=true p=4 in=FORWARD" {
		t.Fatalf("plan %v: want map and sink in tasks of their own", rows)
	}
	run(t, env)
	got := sink.Results()
	if len(got) != 400 {
		t.Fatalf("%d records, want 400", len(got))
	}
	for _, r := range got {
		if r.V%4 != r.Subtask {
			t.Fatalf("element %d reached sink subtask %d, want %d", r.V, r.Subtask, r.V%4)
		}
	}
}

func TestUnion(t *testing.T) {
	env := newEnv(weir.WithParallelism(2))
	a := weir.FromSource(env, memory.NewSource(ints(0, 300)), weir.NoWatermarks[int]())
	b := weir.FromSource(env, memory.NewSource(ints(1000, 1500)), weir.NoWatermarks[int]()).Parallelism(3)
	c := weir.Map(weir.FromSource(env, memory.NewSource(ints(5000, 5010)), weir.NoWatermarks[int]()).Parallelism(1),
		func(v int) int { return -v })
	u := weir.Map(weir.Union(a, b, c), func(v int) int { return v * 2 })
	sink := memory.NewSink[int]()
	weir.To(u, sink)
	// A stream unioned with itself delivers its records twice.
	self := memory.NewSink[int]()
	weir.To(weir.Union(a, a), self)
	run(t, env)
	var want []int
	for _, v := range slices.Concat(ints(0, 300), ints(1000, 1500)) {
		want = append(want, 2*v)
	}
	for _, v := range ints(5000, 5010) {
		want = append(want, -2*v)
	}
	equalSorted(t, "union", sink.Results(), want)
	equalSorted(t, "self-union", self.Results(), slices.Concat(ints(0, 300), ints(0, 300)))
}

// pipelineRecords are in timestamp order up to a jitter of 50ms, below the
// watermark bound, so that no record is late at any parallelism.
func pipelineRecords() []kv {
	var recs []kv
	for i := range 6000 {
		recs = append(recs, kv{K: fmt.Sprintf("k%d", (i*7)%13), TS: int64(i)*10 + int64((i*31)%50), V: int64(i)})
	}
	return recs
}

func TestResultsIndependentOfParallelism(t *testing.T) {
	recs := pipelineRecords()
	// The expected results, computed in plain Go.
	sums := map[string]int64{}
	counts := map[string]int{}
	for _, r := range recs {
		if r.V%7 == 0 {
			continue
		}
		sums[sprint(r.K, r.TS/1000*1000)] += 2 * r.V
		counts[r.K]++
	}
	var wantWindows []string
	for k, s := range sums {
		wantWindows = append(wantWindows, sprint(k, s))
	}

	var prev []string
	for _, p := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(weir.WithParallelism(p))
			src := weir.FromSource(env, memory.NewSource(recs, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](100*time.Millisecond))
			doubled := weir.Map(src.Filter(func(r kv) bool { return r.V%7 != 0 }), func(r kv) kv { r.V *= 2; return r })
			keyed := weir.KeyBy(doubled, kvKey)
			windows := weir.WindowAggregateProcess(keyed.Window(window.TumblingEventTime(time.Second)), sumAgg{},
				func(k string, w window.TimeWindow, s int64, out weir.Collector[string]) error {
					out.Collect(sprint(k, w.Start, s))
					return nil
				})
			rolling := weir.Map(weir.Aggregate(keyed, countAgg[kv]{}), func(n int64) int64 { return n })
			wsink, rsink := memory.NewSink[string](), memory.NewSink[int64]()
			weir.To(windows, wsink)
			weir.To(rolling, rsink)
			run(t, env)
			equalSorted(t, "window sums", wsink.Results(), wantWindows)
			// Rolling counts per key: each key counts 1..n whatever the
			// interleaving of its records.
			var wantCounts []int64
			for _, n := range counts {
				for i := 1; i <= n; i++ {
					wantCounts = append(wantCounts, int64(i))
				}
			}
			equalSorted(t, "rolling counts", rsink.Results(), wantCounts)
			got := sorted(wsink.Results())
			if prev != nil && !slices.Equal(prev, got) {
				t.Fatalf("results differ from the previous parallelism")
			}
			prev = got
		})
	}
}

// sumAgg sums the V of kv records.
type sumAgg struct{}

func (sumAgg) CreateAccumulator() int64  { return 0 }
func (sumAgg) Add(r kv, acc int64) int64 { return acc + r.V }
func (sumAgg) Result(acc int64) int64    { return acc }
func (sumAgg) Merge(a, b int64) int64    { return a + b }
