package weir_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/serde"
	"github.com/weirstream/weir/state"
)

// declCounter counts records per key in state "count", and, in the version
// with extra, also declares states "extra" (written) and "unused" (never
// written, so empty in a savepoint). late makes it register state "late"
// on its first record, after Open, which weir refuses.
type declCounter struct {
	extra, late bool
	unusedInt   bool // declare "unused" as int64 instead of string
	count       state.Value[int64]
	more        state.Value[int64]
}

func (c *declCounter) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	if c.count, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "count"}); err != nil {
		return err
	}
	if c.extra {
		if c.more, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "extra"}); err != nil {
			return err
		}
		if c.unusedInt {
			_, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "unused"})
		} else {
			_, err = state.GetValue(ctx, state.ValueDescriptor[string]{Name: "unused"})
		}
	}
	return err
}

func (c *declCounter) ProcessElement(ctx *weir.KeyedContext[int64], v int64, out weir.Collector[string]) error {
	if c.late {
		if _, err := state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "late"}); err != nil {
			return err
		}
	}
	n, _ := c.count.Value()
	c.count.Update(n + 1)
	if c.extra {
		c.more.Update(v)
	}
	out.Collect(fmt.Sprintf("%d:%d", v%5, n+1))
	return nil
}

// declJob builds numbers -> counter (keyed by v%5) -> sink at parallelism
// p, with counter as the counting function.
func declJob(env *weir.Environment, p int, src *pushSource[int64], counter *declCounter) *liveSink[string] {
	nums := weir.FromSource(env, src, weir.NoWatermarks[int64]()).UID("numbers").Parallelism(1)
	counts := weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 5 }), counter).UID("counter").Parallelism(p)
	sink := newLiveSink[string]()
	weir.To(counts, sink).UID("sink")
	return sink
}

// countedSavepoint runs the job build makes, feeds it the values 0..9 (two
// per key of v%5), waits for their 10 results and stops it with a
// savepoint, whose path it returns.
func countedSavepoint(t *testing.T, build func(*weir.Environment, *pushSource[int64]) *liveSink[string]) string {
	t.Helper()
	src := newPushSource[int64](1)
	env := newEnv(weir.WithSavepointDir(t.TempDir()))
	sink := build(env, src)
	job, err := env.ExecuteAsync(context.Background(), "counted")
	if err != nil {
		t.Fatal(err)
	}
	for v := range int64(10) {
		src.Push(0, v, v)
	}
	sink.WaitLen(t, 10)
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUndeclaredStatesOfSeveralOperators: when several operators no longer
// declare states the savepoint holds for them, one restore attempt names
// them all.
func TestUndeclaredStatesOfSeveralOperators(t *testing.T) {
	build := func(env *weir.Environment, src *pushSource[int64], extra bool) *liveSink[string] {
		nums := weir.FromSource(env, src, weir.NoWatermarks[int64]()).UID("numbers").Parallelism(1)
		keyed := weir.KeyBy(nums, func(v int64) int64 { return v % 5 })
		first := weir.Process(keyed, &declCounter{extra: extra}).UID("first").Parallelism(2)
		second := weir.Process(keyed, &declCounter{extra: extra}).UID("second").Parallelism(2)
		sink := newLiveSink[string]()
		weir.To(first, sink).UID("sink")
		weir.To(second, newLiveSink[string]()).UID("sink2")
		return sink
	}
	path := countedSavepoint(t, func(env *weir.Environment, src *pushSource[int64]) *liveSink[string] {
		return build(env, src, true)
	})
	env := newEnv(weir.FromSavepoint(path))
	build(env, newPushSource[int64](1), false)
	job, err := env.ExecuteAsync(context.Background(), "decl")
	if err == nil {
		job.Cancel()
		_ = job.Wait()
		t.Fatal("restore without the states declared succeeded")
	}
	for _, want := range []string{"restoring 2 operators", "(uid first, id ", "(uid second, id ", `keyed state "extra", keyed state "unused"`, "--allow-non-restored-state"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("restore error %q does not contain %q", err, want)
		}
	}
	if strings.Count(err.Error(), `keyed state "extra"`) != 2 {
		t.Errorf("restore error %q does not name each operator's states once", err)
	}
}

// TestUndeclaredStateRestore: a savepoint holding states the new version
// of an operator no longer declares (keyed state here, an operator list
// below), one of them empty, fails the restore with one error naming the
// operator, each state and what to do; with AllowNonRestoredState the
// states are dropped and listed, and the state the operator still declares
// continues.
func TestUndeclaredStateRestore(t *testing.T) {
	path := countedSavepoint(t, func(env *weir.Environment, src *pushSource[int64]) *liveSink[string] {
		return declJob(env, 2, src, &declCounter{extra: true})
	})

	env := newEnv(weir.FromSavepoint(path))
	declJob(env, 3, newPushSource[int64](1), &declCounter{})
	if job, err := env.ExecuteAsync(context.Background(), "decl"); err == nil {
		job.Cancel()
		_ = job.Wait()
		t.Fatal("restore without the state declared succeeded")
	} else {
		for _, want := range []string{`operator "KeyedProcess" (uid counter, id `, `keyed state "extra", keyed state "unused"`, "do not declare", "--allow-non-restored-state", "weir.AllowNonRestoredState"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("restore error %q does not contain %q", err, want)
			}
		}
	}

	src := newPushSource[int64](1)
	env = newEnv(weir.FromSavepoint(path, weir.AllowNonRestoredState()))
	sink := declJob(env, 3, src, &declCounter{})
	job, err := env.ExecuteAsync(context.Background(), "decl")
	if err != nil {
		t.Fatalf("restore with AllowNonRestoredState: %v", err)
	}
	defer func() {
		job.Cancel()
		_ = job.Wait()
	}()
	skipped := job.Skipped()
	if len(skipped) != 1 || skipped[0].UID != "counter" || !skipped[0].InJob || !reflect.DeepEqual(skipped[0].States, []string{"extra", "unused"}) {
		t.Fatalf("Skipped() = %+v, want the counter (in the job) with states extra and unused", skipped)
	}
	skipped[0].States[0] = "changed"
	if again := job.Skipped(); again[0].States[0] != "extra" {
		t.Fatalf("changing what Skipped returned changed the job's list: %+v", again)
	}
	for v := int64(10); v < 15; v++ {
		src.Push(0, v, v)
	}
	got := sink.WaitLen(t, 5)
	slices.Sort(got)
	// Each of the 5 keys had 2 records before the savepoint.
	if want := []string{"0:3", "1:3", "2:3", "3:3", "4:3"}; !slices.Equal(got, want) {
		t.Fatalf("after the restore: %v, want %v", got, want)
	}
}

// TestUndeclaredOperatorListRestore is TestUndeclaredStateRestore for an
// operator list state.
func TestUndeclaredOperatorListRestore(t *testing.T) {
	path := listSavepoint(t, 2, 8, state.EvenSplit)
	build := func(env *weir.Environment) *listRecorder {
		rec := newListRecorder()
		a := weir.FromSource(env, newPushSource[int64](2), weir.NoWatermarks[int64]()).UID("numbers").Parallelism(2)
		b := weir.FromSource(env, newPushSource[string](1), weir.NoWatermarks[string]()).UID("words").Parallelism(1)
		kept := weir.CoProcess[int64, string, int64](weir.Connect(a, b), &listKeeper{name: "renamed", mode: state.EvenSplit, rec: rec}).UID("keeper").Parallelism(2)
		weir.To(kept, newLiveSink[int64]()).UID("sink")
		return rec
	}
	env := newEnv(weir.FromSavepoint(path))
	build(env)
	if job, err := env.ExecuteAsync(context.Background(), "lists"); err == nil {
		job.Cancel()
		_ = job.Wait()
		t.Fatal("restore without the list declared succeeded")
	} else if !strings.Contains(err.Error(), `(uid keeper, id `) || !strings.Contains(err.Error(), `operator list state "seen"`) {
		t.Fatalf("restore error %q does not name the operator and its list", err)
	}

	env = newEnv(weir.FromSavepoint(path, weir.AllowNonRestoredState()))
	rec := build(env)
	job, err := env.ExecuteAsync(context.Background(), "lists")
	if err != nil {
		t.Fatalf("restore with AllowNonRestoredState: %v", err)
	}
	defer func() {
		job.Cancel()
		_ = job.Wait()
	}()
	for i, got := range rec.wait(t, 2) {
		if len(got) != 0 {
			t.Errorf("subtask %d: the new list started with %v", i, got)
		}
	}
	skipped := job.Skipped()
	if len(skipped) != 1 || skipped[0].UID != "keeper" || !skipped[0].InJob || !reflect.DeepEqual(skipped[0].States, []string{"seen"}) {
		t.Fatalf("Skipped() = %+v, want the keeper with list seen", skipped)
	}
}

// TestStateRegisteredAfterOpen: a state first registered after Open fails
// the job with an error saying where to register it. It could not be
// restored: a restore loads the states declared by the end of Open.
func TestStateRegisteredAfterOpen(t *testing.T) {
	src := newPushSource[int64](1)
	env := newEnv()
	declJob(env, 1, src, &declCounter{late: true})
	job, err := env.ExecuteAsync(context.Background(), "late")
	if err != nil {
		t.Fatal(err)
	}
	src.Push(0, 1, 1)
	err = job.Wait()
	if err == nil || !strings.Contains(err.Error(), `state "late"`) || !strings.Contains(err.Error(), "in its Open method") {
		t.Fatalf("Wait = %v, want the late registration refused", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v: the job was cancelled, not failed", err)
	}
}

// countCodec is a custom serializer of int64 without a schema of its own
// (serde describes it by its Go type): wide writes 16 bytes, the narrow
// version 8. Both versions have the same schema, so only decoding can tell
// that one cannot read the other.
type countCodec struct{ wide bool }

func (c countCodec) Append(dst []byte, v int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	if c.wide {
		dst = binary.BigEndian.AppendUint64(dst, 0)
	}
	return dst
}

func (c countCodec) Read(src []byte) (int64, int, error) {
	n := 8
	if c.wide {
		n = 16
	}
	if len(src) < n {
		return 0, 0, serde.ErrShortBuffer
	}
	return int64(binary.BigEndian.Uint64(src)), n, nil
}

// codecCounter counts records per key with countCodec.
type codecCounter struct {
	codec countCodec
	count state.Value[int64]
}

func (c *codecCounter) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	c.count, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "count", Serializer: c.codec})
	return err
}

func (c *codecCounter) ProcessElement(ctx *weir.KeyedContext[int64], v int64, out weir.Collector[string]) error {
	n, _ := c.count.Value()
	c.count.Update(n + 1)
	out.Collect(fmt.Sprintf("%d:%d", v%5, n+1))
	return nil
}

// TestSerializerEncodingChangeFailsRestore: a custom serializer whose
// encoding changed while its schema did not passes the schema check, and
// the restore still fails, naming the operator and the state, instead of
// the job failing once it first touches the restored keys.
func TestSerializerEncodingChangeFailsRestore(t *testing.T) {
	build := func(env *weir.Environment, src *pushSource[int64], codec countCodec) *liveSink[string] {
		nums := weir.FromSource(env, src, weir.NoWatermarks[int64]()).UID("numbers").Parallelism(1)
		counts := weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 5 }), &codecCounter{codec: codec}).UID("counter").Parallelism(2)
		sink := newLiveSink[string]()
		weir.To(counts, sink).UID("sink")
		return sink
	}
	path := countedSavepoint(t, func(env *weir.Environment, src *pushSource[int64]) *liveSink[string] {
		return build(env, src, countCodec{})
	})
	env := newEnv(weir.FromSavepoint(path))
	build(env, newPushSource[int64](1), countCodec{wide: true})
	if job, err := env.ExecuteAsync(context.Background(), "codec"); err == nil {
		job.Cancel()
		_ = job.Wait()
		t.Fatal("restore with a serializer that cannot read the savepoint succeeded")
	} else if !strings.Contains(err.Error(), `(uid counter, id `) || !strings.Contains(err.Error(), `state "count"`) || !strings.Contains(err.Error(), "cannot decode") {
		t.Fatalf("restore error %q does not name the operator, the state and the cause", err)
	}
	// The same savepoint restores with the serializer that wrote it.
	src := newPushSource[int64](1)
	env = newEnv(weir.FromSavepoint(path))
	sink := build(env, src, countCodec{})
	job, err := env.ExecuteAsync(context.Background(), "codec")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		job.Cancel()
		_ = job.Wait()
	}()
	src.Push(0, 10, 10)
	if got := sink.WaitLen(t, 1); got[0] != "0:3" {
		t.Fatalf("after the restore: %v, want 0:3", got)
	}
}
