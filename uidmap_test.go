package weir_test

import (
	"context"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
)

// uidMapBuild is the running sum and the window count, with the given
// UIDs on them.
func uidMapBuild(sumUID, winUID string) upBuild {
	return func(env *weir.Environment, src *upSource, sink *upLive) {
		in := upFrom(env, src).UID("input")
		sum := upSum(in)
		if sumUID != "" {
			sum = sum.UID(sumUID)
		}
		weir.To(weir.Union(upFormat("sum", sum), upWindow(in).UID(winUID)), sink).UID("sink")
	}
}

// uidMapRestore runs version 2 from v1's savepoint with the UID map m and
// checks that it restores everything and continues the input exactly: its
// results, with version 1's, are those of one uninterrupted run.
func uidMapRestore(t *testing.T, v1 upV1, v2b upBuild, ref []string, m map[string]string) {
	t.Helper()
	v2, err := upRunV2(t, 3, v1.path, v2b, weir.WithUIDMap(m))
	if err != nil {
		t.Fatalf("version 2 with the UID map %v does not restore: %v", m, err)
	}
	if len(v2.skipped) != 0 {
		t.Fatalf("version 2 skipped state of %v", v2.skipped)
	}
	if v1.read+v2.read != upN {
		t.Fatalf("version 1 read %d records and version 2 %d; want %d in all", v1.read, v2.read, upN)
	}
	upSame(t, "results before and after the upgrade", append(v1.before, v2.after...), ref)
}

// TestUpgradeRenamedUIDWithMap: version 2 renames the running sum's UID.
// Without a map the restore fails naming the old UID; with
// WithUIDMap(old: new) the sum continues from its saved state (at another
// parallelism), and Check reports the operator matched, restoring the
// renamed operator's state.
func TestUpgradeRenamedUIDWithMap(t *testing.T) {
	t.Parallel()
	v1b, v2b := uidMapBuild("sum-v1", "win"), uidMapBuild("sum-v2", "win")
	ref := upReference(t, 2, v1b)
	sums, _, wins := upModel(upInput())
	upCheckModel(t, ref, sums, wins)

	v1 := upRunV1(t, 2, v1b)
	if _, err := upRunV2(t, 3, v1.path, v2b); err == nil || !strings.Contains(err.Error(), "uid sum-v1") || !strings.Contains(err.Error(), "--uid-map") {
		t.Fatalf("version 2 without a map: got %v, want a restore error naming uid sum-v1 and --uid-map", err)
	}
	m := map[string]string{"sum-v1": "sum-v2"}
	env := upEnv(3, weir.FromSavepoint(v1.path, weir.WithUIDMap(m)))
	v2b(env, newUpSource(0, false), newUpLive())
	r, err := env.Check()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Restores {
		t.Fatalf("Check with the map: %s", r.Verdict())
	}
	found := false
	for _, op := range r.Operators {
		if op.UID == "sum-v2" {
			found = true
			if op.Status != weir.CheckMatched || op.RestoresFromUID != "sum-v1" || op.RestoresFrom != upUIDHex("sum-v1") || op.SnapshotParallelism != 2 {
				t.Errorf("Check: operator sum-v2 = %+v, want matched, restoring sum-v1 (%s) from parallelism 2", op, upUIDHex("sum-v1"))
			}
		}
		if op.Status == weir.CheckDropped {
			t.Errorf("Check: operator %+v dropped", op)
		}
	}
	if !found {
		t.Fatal("Check does not report the operator sum-v2")
	}
	uidMapRestore(t, v1, v2b, ref, m)
}

// TestUpgradeUIDMapFromID: version 1's running sum had no UID, and
// version 2 inserts an operator before it, which changes its derived ID.
// A map from the old ID (as weir inspect shows it) to the UID version 2
// gives the sum restores its state.
func TestUpgradeUIDMapFromID(t *testing.T) {
	t.Parallel()
	v1b := uidMapBuild("", "win")
	v2b := func(env *weir.Environment, src *upSource, sink *upLive) {
		in := upFrom(env, src).UID("input")
		sum := upSum(weir.Map(in, func(r upRec) upRec { return r }).Name("inserted").Parallelism(1)).UID("sum")
		weir.To(weir.Union(upFormat("sum", sum), upWindow(in).UID("win")), sink).UID("sink")
	}
	ref := upReference(t, 2, v1b)
	v1 := upRunV1(t, 2, v1b)
	oldID := upPlanID(t, v1.plan, "running-sum")
	if _, ok := upSavepointOps(t, v1.path)[oldID]; !ok {
		t.Fatalf("the savepoint holds no state under the running sum's derived ID %s", oldID)
	}
	uidMapRestore(t, v1, v2b, ref, map[string]string{oldID: "sum"})
}

// TestUpgradeUIDMapSwap: a map may move state between operators that both
// have state in the savepoint, as long as each target is freed: swapping
// the UIDs of the running sum and the window count back restores each its
// own state.
func TestUpgradeUIDMapSwap(t *testing.T) {
	t.Parallel()
	v1b, v2b := uidMapBuild("a", "b"), uidMapBuild("b", "a")
	ref := upReference(t, 2, v1b)
	v1 := upRunV1(t, 2, v1b)
	uidMapRestore(t, v1, v2b, ref, map[string]string{"a": "b", "b": "a"})
}

// TestUIDMapErrors: a map that names no operator of the savepoint, no
// operator of the job, or a target that keeps state of its own fails the
// restore (and Check) before the job starts, naming what is wrong; so does
// a map with an empty side or two operators mapped to one.
func TestUIDMapErrors(t *testing.T) {
	t.Parallel()
	v1b := uidMapBuild("sum", "win")
	v1 := upRunV1(t, 2, v1b)
	for _, tc := range []struct {
		name string
		m    map[string]string
		want string
	}{
		{"unknown old", map[string]string{"nope": "sum"}, `the snapshot has no operator with UID or ID "nope" (weir inspect lists its operators)`},
		{"unknown ID", map[string]string{strings.Repeat("ab", 16): "sum"}, "the snapshot has no operator with UID or ID"},
		{"unknown new", map[string]string{"sum": "nope"}, `UID map sum=nope: the job has no operator with UID "nope"`},
		{"target has state", map[string]string{"sum": "win"}, `would restore into operator ` + upUIDHex("win") + `, which has state of its own in the snapshot (uid win, name "window-count")`},
		{"old named twice", map[string]string{"sum": "win", upUIDHex("sum"): "sink"}, "is named twice in the map"},
		{"two olds to one new", map[string]string{"sum": "win", "win": "win"}, `"sum" and "win" both map to "win"`},
		{"empty new", map[string]string{"sum": ""}, `UID map "sum"="": give old=new`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := upRunV2(t, 2, v1.path, v1b, weir.WithUIDMap(tc.m))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("restore: got %v, want one line with %q", err, tc.want)
			}
			env := upEnv(2, weir.FromSavepoint(v1.path, weir.WithUIDMap(tc.m)))
			v1b(env, newUpSource(0, false), newUpLive())
			if _, err := env.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// The savepoint is untouched: it still restores the unchanged job.
	v2, err := upRunV2(t, 2, v1.path, v1b)
	if err != nil || v1.read+v2.read != upN {
		t.Fatalf("restore after the failed ones: %v (read %d + %d of %d)", err, v1.read, v2.read, upN)
	}
}

// TestUIDMapFlag: --uid-map takes OLD=NEW pairs, comma-separated or
// repeated, and rejects malformed ones with one line naming the flag.
func TestUIDMapFlag(t *testing.T) {
	jf, rest, err := weir.ParseFlags([]string{"-s", "/sp", "--uid-map", "a=b, c = d", "--uid-map=e=f", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "b", "c": "d", "e": "f"}; len(jf.UIDMap) != 3 || jf.UIDMap["a"] != "b" || jf.UIDMap["c"] != "d" || jf.UIDMap["e"] != "f" {
		t.Fatalf("UIDMap = %v, want %v", jf.UIDMap, want)
	}
	if len(rest) != 1 || rest[0] != "x" {
		t.Fatalf("rest = %q", rest)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--uid-map", "a"}, `invalid value "a" for flag -uid-map: "a": want OLD=NEW`},
		{[]string{"--uid-map", "=b"}, "want OLD=NEW"},
		{[]string{"--uid-map", "a="}, "want OLD=NEW"},
		{[]string{"--uid-map", "a=b,,c=d"}, "want OLD=NEW"},
		{[]string{"--uid-map", "a=b", "--uid-map", "a=c"}, `"a=c": a is already mapped to b`},
	} {
		if _, _, err := weir.ParseFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlags(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// Through Option, the map reaches the restore.
	jf, _, err = weir.ParseFlags([]string{"-s", t.TempDir(), "--uid-map", "a=b,c=b"})
	if err != nil {
		t.Fatal(err)
	}
	env := weir.NewEnvironment(jf.Option())
	weir.To(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), memory.NewSink[int]())
	if err := env.Execute(context.Background(), "t"); err == nil || !strings.Contains(err.Error(), `both map to "b"`) {
		t.Fatalf("a map of two operators to one: %v", err)
	}
	// A map without a savepoint to map is a mistake, not ignored.
	jf, _, err = weir.ParseFlags([]string{"--uid-map", "a=b"})
	if err != nil {
		t.Fatal(err)
	}
	env = weir.NewEnvironment(jf.Option())
	weir.To(weir.FromSource(env, memory.NewSource([]int{1}), weir.NoWatermarks[int]()), memory.NewSink[int]())
	if err := env.Execute(context.Background(), "t"); err == nil || !strings.Contains(err.Error(), "--uid-map maps the operators of a savepoint: give the savepoint with -s") {
		t.Fatalf("a map without -s: %v", err)
	}
}

// TestUpgradeUIDMapCases: a chain (a to b while b goes to c), a map of an
// operator to itself, an operator named by its ID although it has a UID,
// a map together with AllowNonRestoredState, and a name that is one
// operator's UID and another's ID (refused).
func TestUpgradeUIDMapCases(t *testing.T) {
	t.Parallel()
	t.Run("chain", func(t *testing.T) {
		t.Parallel()
		v1b, v2b := uidMapBuild("a", "b"), uidMapBuild("b", "c")
		ref := upReference(t, 2, v1b)
		uidMapRestore(t, upRunV1(t, 2, v1b), v2b, ref, map[string]string{"a": "b", "b": "c"})
	})
	t.Run("self and by ID", func(t *testing.T) {
		t.Parallel()
		v1b, v2b := uidMapBuild("sum-v1", "win"), uidMapBuild("sum-v2", "win")
		ref := upReference(t, 2, v1b)
		v1 := upRunV1(t, 2, v1b)
		uidMapRestore(t, v1, v2b, ref, map[string]string{upUIDHex("sum-v1"): "sum-v2", "win": "win"})
	})
	t.Run("with allow-non-restored-state", func(t *testing.T) {
		t.Parallel()
		v1b := uidMapBuild("sum-v1", "win")
		v2b := func(env *weir.Environment, src *upSource, sink *upLive) {
			in := upFrom(env, src).UID("input")
			weir.To(upFormat("sum", upSum(in).UID("sum-v2")), sink).UID("sink")
		}
		ref := upReference(t, 2, v1b)
		v1 := upRunV1(t, 2, v1b)
		m := map[string]string{"sum-v1": "sum-v2"}
		env := upEnv(2, weir.FromSavepoint(v1.path, weir.WithUIDMap(m), weir.AllowNonRestoredState()))
		v2b(env, newUpSource(0, false), newUpLive())
		r, err := env.Check()
		if err != nil || !r.Restores {
			t.Fatalf("Check: %v, %+v", err, r)
		}
		for _, op := range r.Operators {
			switch op.UID {
			case "sum-v2":
				if op.Status != weir.CheckMatched || op.RestoresFromUID != "sum-v1" {
					t.Errorf("Check: %+v, want matched from sum-v1", op)
				}
			case "win":
				if op.Status != weir.CheckDropped {
					t.Errorf("Check: %+v, want dropped", op)
				}
			}
		}
		v2, err := upRunV2(t, 2, v1.path, v2b, weir.WithUIDMap(m), weir.AllowNonRestoredState())
		if err != nil {
			t.Fatal(err)
		}
		if len(v2.skipped) != 1 || v2.skipped[0].UID != "win" || v2.skipped[0].InJob {
			t.Fatalf("skipped %+v, want the window count only", v2.skipped)
		}
		upSame(t, "running sums before and after the upgrade", upWith("sum ", v1.before, v2.after), upWith("sum ", ref))
	})
	t.Run("ambiguous", func(t *testing.T) {
		t.Parallel()
		confusing := upUIDHex("win") // the window count's ID, as the sum's UID
		v1b := uidMapBuild(confusing, "win")
		v1 := upRunV1(t, 2, v1b)
		_, err := upRunV2(t, 2, v1.path, uidMapBuild("sum", "win"), weir.WithUIDMap(map[string]string{confusing: "sum"}))
		if err == nil || !strings.Contains(err.Error(), "the map cannot tell which is meant") {
			t.Fatalf("got %v, want an error saying the map is ambiguous", err)
		}
	})
}
