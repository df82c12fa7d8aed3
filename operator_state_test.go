package weir_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/state"
)

// listRecorder collects what each subtask of a listKeeper found in its
// operator list when it opened.
type listRecorder struct {
	mu       sync.Mutex
	restored map[int][]int64
	opened   chan struct{}
}

func newListRecorder() *listRecorder {
	return &listRecorder{restored: map[int][]int64{}, opened: make(chan struct{}, 64)}
}

// wait waits for n subtasks to open and returns what they restored.
func (r *listRecorder) wait(t *testing.T, n int) map[int][]int64 {
	t.Helper()
	deadline := time.After(waitTimeout)
	for range n {
		select {
		case <-r.opened:
		case <-deadline:
			t.Fatalf("only some of %d subtasks opened", n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int][]int64{}
	for k, v := range r.restored {
		out[k] = slices.Clone(v)
	}
	return out
}

// listKeeper appends every value of its first input to an operator list
// state (named "seen" unless name says otherwise) and echoes it; at Open it records the list's restored
// contents.
type listKeeper struct {
	name string // of the list; "" means "seen"
	mode state.Redistribution
	rec  *listRecorder
	seen state.List[int64]
}

func (k *listKeeper) Open(ctx *weir.OperatorContext) error {
	name := k.name
	if name == "" {
		name = "seen"
	}
	l, err := state.GetOperatorList(ctx, state.ListDescriptor[int64]{Name: name}, k.mode)
	if err != nil {
		return err
	}
	k.seen = l
	var got []int64
	for v := range l.All() {
		got = append(got, v)
	}
	k.rec.mu.Lock()
	k.rec.restored[ctx.Subtask()] = got
	k.rec.mu.Unlock()
	k.rec.opened <- struct{}{}
	return nil
}

func (k *listKeeper) ProcessElement1(_ *weir.OperatorContext, v int64, out weir.Collector[int64]) error {
	k.seen.Add(v)
	out.Collect(v)
	return nil
}

func (k *listKeeper) ProcessElement2(*weir.OperatorContext, string, weir.Collector[int64]) error {
	return nil
}

// listJob builds source -> listKeeper -> sink at parallelism p. Each
// subtask gets its own copy of the listKeeper.
func listJob(env *weir.Environment, p int, src *pushSource[int64], mode state.Redistribution, rec *listRecorder) *liveSink[int64] {
	a := weir.FromSource(env, src, weir.NoWatermarks[int64]()).UID("numbers").Parallelism(p)
	b := weir.FromSource(env, newPushSource[string](1), weir.NoWatermarks[string]()).UID("words").Parallelism(1)
	sink := newLiveSink[int64]()
	kept := weir.CoProcess[int64, string, int64](weir.Connect(a, b), &listKeeper{mode: mode, rec: rec}).UID("keeper").Parallelism(p)
	weir.To(kept, sink).UID("sink")
	return sink
}

// listSavepoint runs listJob at parallelism p with mode, feeds it the values
// 0..n-1 (value v to split v%p), checks that nothing was restored at Open,
// and stops it with a savepoint, whose path it returns.
func listSavepoint(t *testing.T, p, n int, mode state.Redistribution) string {
	t.Helper()
	src := newPushSource[int64](p)
	rec := newListRecorder()
	env := newEnv(weir.WithSavepointDir(t.TempDir()))
	sink := listJob(env, p, src, mode, rec)
	job, err := env.ExecuteAsync(context.Background(), "lists")
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range rec.wait(t, p) {
		if len(got) != 0 {
			t.Fatalf("subtask %d of a fresh job restored %v", i, got)
		}
	}
	for v := range int64(n) {
		src.Push(int(v%int64(p)), v, v)
	}
	sink.WaitLen(t, n)
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// restoredLists starts listJob from the savepoint at path at parallelism p
// with mode and returns what each subtask's list held at Open.
func restoredLists(t *testing.T, path string, p int, mode state.Redistribution) map[int][]int64 {
	t.Helper()
	rec := newListRecorder()
	env := newEnv(weir.FromSavepoint(path))
	listJob(env, p, newPushSource[int64](p), mode, rec)
	job, err := env.ExecuteAsync(context.Background(), "lists")
	if err != nil {
		t.Fatalf("restore at p=%d: %v", p, err)
	}
	got := rec.wait(t, p)
	job.Cancel()
	_ = job.Wait()
	return got
}

// TestOperatorListStateRescale: user operator list state goes through a
// savepoint written to files and is redistributed at restore, at a higher
// and a lower parallelism: an even split deals the elements into parts
// whose sizes differ by at most one, a union gives every subtask all of
// them; either way no element is lost or duplicated. The savepoint records
// the list's element schema.
func TestOperatorListStateRescale(t *testing.T) {
	const n = 11
	for _, mode := range []state.Redistribution{state.EvenSplit, state.Union} {
		t.Run(mode.String(), func(t *testing.T) {
			path := listSavepoint(t, 2, n, mode)

			// The savepoint holds the list with its element schema.
			sp, err := format.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			var st *format.State
			for i := range sp.Metadata().Operators {
				op := &sp.Metadata().Operators[i]
				for j := range op.States {
					if op.UID == "keeper" && op.States[j].Name == "seen" {
						st = &op.States[j]
					}
				}
			}
			if st == nil || !st.Kind.IsOperatorList() {
				t.Fatalf("the savepoint has no operator list \"seen\" of operator \"keeper\": %+v", sp.Metadata().Operators)
			}
			schema, _, err := serde.ReadSchema(st.ValueSchema)
			if err != nil {
				t.Fatalf("the list's value schema: %v", err)
			}
			if schema.Kind != serde.KindInt64 {
				t.Fatalf("the list's value schema is %v, want int64", schema)
			}

			for _, p := range []int{3, 1} {
				got := restoredLists(t, path, p, mode)
				var all []int64
				sizes := map[int]bool{}
				for i := range p {
					all = append(all, got[i]...)
					sizes[len(got[i])] = true
				}
				want := make([]int64, n)
				for i := range want {
					want[i] = int64(i)
				}
				switch mode {
				case state.EvenSplit:
					slices.Sort(all)
					if !slices.Equal(all, want) {
						t.Fatalf("p=%d: the subtasks restored %v, want each of 0..%d once", p, got, n-1)
					}
					lo, hi := n/p, (n+p-1)/p
					for s := range sizes {
						if s != lo && s != hi {
							t.Fatalf("p=%d: uneven split %v", p, got)
						}
					}
				case state.Union:
					for i := range p {
						g := slices.Clone(got[i])
						slices.Sort(g)
						if !slices.Equal(g, want) {
							t.Fatalf("p=%d: subtask %d restored %v, want every element", p, i, got[i])
						}
					}
				}
			}
		})
	}
}

// stringKeeper declares the list "seen" with strings instead of int64s.
type stringKeeper struct{ listKeeper }

func (k *stringKeeper) Open(ctx *weir.OperatorContext) error {
	_, err := state.GetOperatorList(ctx, state.ListDescriptor[string]{Name: "seen"}, k.mode)
	return err
}

// TestOperatorListStateTypeChangeRejected: restoring an operator list into
// a list of another type fails before the job runs, naming the operator,
// the state and both schemas, and leaves the savepoint restorable.
func TestOperatorListStateTypeChangeRejected(t *testing.T) {
	path := listSavepoint(t, 1, 8, state.EvenSplit)

	env := newEnv(weir.FromSavepoint(path))
	a := weir.FromSource(env, newPushSource[int64](1), weir.NoWatermarks[int64]()).UID("numbers")
	b := weir.FromSource(env, newPushSource[string](1), weir.NoWatermarks[string]()).UID("words")
	kept := weir.CoProcess[int64, string, int64](weir.Connect(a, b), &stringKeeper{listKeeper{mode: state.EvenSplit, rec: newListRecorder()}}).UID("keeper").Name("keeper-op")
	weir.To(kept, newLiveSink[int64]()).UID("sink")
	job, err := env.ExecuteAsync(context.Background(), "lists")
	if err == nil {
		job.Cancel()
		_ = job.Wait()
		t.Fatal("an int64 operator list restored into a string list")
	}
	msg := err.Error()
	for _, want := range []string{`"keeper-op"`, "keeper", `"seen"`, "int64", "string"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}

	// The savepoint is untouched and still restores into the right type.
	if got := restoredLists(t, path, 1, state.EvenSplit); fmt.Sprint(got[0]) != "[0 1 2 3 4 5 6 7]" {
		t.Fatalf("restored %v, want 0..7", got[0])
	}
}

// TestOperatorListModeChangeRejected: a list saved as a union cannot be
// restored as an even split (or the reverse): every subtask got the whole
// union, so taking it as an even split would hold each element several
// times. The restore fails naming the operator, the state and both modes.
func TestOperatorListModeChangeRejected(t *testing.T) {
	for _, c := range []struct{ saved, declared state.Redistribution }{
		{state.Union, state.EvenSplit},
		{state.EvenSplit, state.Union},
	} {
		t.Run(c.saved.String(), func(t *testing.T) {
			path := listSavepoint(t, 2, 5, c.saved)
			env := newEnv(weir.FromSavepoint(path))
			listJob(env, 2, newPushSource[int64](2), c.declared, newListRecorder())
			job, err := env.ExecuteAsync(context.Background(), "lists")
			if err == nil {
				job.Cancel()
				_ = job.Wait()
				t.Fatalf("a %s list restored as %s", c.saved, c.declared)
			}
			for _, want := range []string{"keeper", `"seen"`, c.saved.String(), c.declared.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
}
