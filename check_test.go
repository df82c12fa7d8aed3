package weir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// stateStatus maps "uid/state" to the status of every state in r, and
// "uid" to the status of every operator.
func stateStatus(r *weir.CheckReport) map[string]string {
	out := map[string]string{}
	for _, op := range r.Operators {
		out[op.UID] = op.Status
		for _, s := range op.States {
			out[op.UID+"/"+s.Kind+" "+s.Name] = s.Status
		}
	}
	return out
}

// dirState lists the files of dir with their sizes and modification
// times.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(&b, p, fi.ModTime(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCheck: Environment.Check tells, without running the job or touching
// the savepoint, which operators and states would be restored, start
// empty, be dropped or cannot be read, and whether the restore would
// succeed, with and without AllowNonRestoredState.
func TestCheck(t *testing.T) {
	path := countedSavepoint(t, func(env *weir.Environment, src *pushSource[int64]) *liveSink[string] {
		return declJob(env, 2, src, &declCounter{extra: true})
	})
	before := dirState(t, path)

	check := func(t *testing.T, opts []weir.Option, build func(*weir.Environment)) *weir.CheckReport {
		t.Helper()
		env := newEnv(opts...)
		build(env)
		r, err := env.Check()
		if err != nil {
			t.Fatal(err)
		}
		if got := dirState(t, path); got != before {
			t.Fatalf("Check changed the savepoint:\n%s\nwas\n%s", got, before)
		}
		if _, err := r.JSON(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("unchanged", func(t *testing.T) {
		r := check(t, []weir.Option{weir.FromSavepoint(path), weir.WithParallelism(3)}, func(env *weir.Environment) {
			declJob(env, 3, newPushSource[int64](1), &declCounter{extra: true})
		})
		st := stateStatus(r)
		if !r.Restores || len(r.Problems) != 0 || st["counter"] != "matched" || st["counter/keyed state count"] != "matched" ||
			st["counter/keyed state extra"] != "matched" || st["counter/keyed state unused"] != "matched" || st["numbers"] != "matched" {
			t.Fatalf("report %+v", r)
		}
		for _, op := range r.Operators {
			if op.UID == "counter" && (op.SnapshotParallelism != 2 || op.Parallelism != 3) {
				t.Errorf("counter: parallelism %d in the savepoint, %d in the job; want 2 and 3", op.SnapshotParallelism, op.Parallelism)
			}
		}
	})
	t.Run("states no longer declared", func(t *testing.T) {
		build := func(env *weir.Environment) { declJob(env, 2, newPushSource[int64](1), &declCounter{}) }
		r := check(t, []weir.Option{weir.FromSavepoint(path)}, build)
		st := stateStatus(r)
		if r.Restores || len(r.Problems) != 2 || st["counter/keyed state extra"] != "dropped" || st["counter/keyed state count"] != "matched" ||
			!strings.Contains(r.Problems[0], `no longer declares keyed state "extra"`) || !strings.Contains(r.Problems[0], "--allow-non-restored-state") {
			t.Fatalf("report %+v", r)
		}
		r = check(t, []weir.Option{weir.FromSavepoint(path, weir.AllowNonRestoredState())}, build)
		if !r.Restores || !r.AllowNonRestoredState || stateStatus(r)["counter/keyed state unused"] != "dropped" {
			t.Fatalf("report with AllowNonRestoredState %+v", r)
		}
	})
	t.Run("operator removed, another added", func(t *testing.T) {
		r := check(t, []weir.Option{weir.FromSavepoint(path)}, func(env *weir.Environment) {
			nums := weir.FromSource(env, newPushSource[int64](1), weir.NoWatermarks[int64]()).UID("numbers").Parallelism(1)
			counts := weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 5 }), &declCounter{}).UID("counter-v2")
			weir.To(counts, newLiveSink[string]()).UID("sink")
		})
		st := stateStatus(r)
		if r.Restores || len(r.Problems) != 1 || st["counter"] != "dropped" || st["counter/keyed state extra"] != "dropped" ||
			st["counter-v2"] != "new" || st["counter-v2/keyed state count"] != "new" || !strings.Contains(r.Problems[0], "give it its old UID") {
			t.Fatalf("report %+v", r)
		}
		b, _ := r.JSON()
		var back weir.CheckReport
		if err := json.Unmarshal(b, &back); err != nil || back.Operators[len(back.Operators)-1].Status != "dropped" {
			t.Fatalf("the JSON report does not read back: %v\n%s", err, b)
		}
	})
	t.Run("another type", func(t *testing.T) {
		r := check(t, []weir.Option{weir.FromSavepoint(path)}, func(env *weir.Environment) {
			declJob(env, 2, newPushSource[int64](1), &declCounter{extra: true, unusedInt: true})
		})
		if r.Restores || stateStatus(r)["counter/keyed state unused"] != "incompatible" || !strings.Contains(r.Problems[0], "string became int64") {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("data file damaged", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(path, "keyed-*.dat"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no data files in %s: %v", path, err)
		}
		build := func(env *weir.Environment) { declJob(env, 2, newPushSource[int64](1), &declCounter{extra: true}) }
		for _, damage := range []string{"truncated", "missing"} {
			dir := filepath.Join(t.TempDir(), "copy")
			if err := os.CopyFS(dir, os.DirFS(path)); err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(files[0])
			victim := filepath.Join(dir, name)
			if damage == "truncated" {
				fi, err := os.Stat(victim)
				if err == nil {
					err = os.Truncate(victim, fi.Size()-1)
				}
				if err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
			for _, opt := range []weir.Option{weir.FromSavepoint(dir), weir.FromSavepoint(dir, weir.AllowNonRestoredState())} {
				env := newEnv(opt)
				build(env)
				r, err := env.Check()
				if err != nil {
					t.Fatal(err)
				}
				unreadable := 0
				for _, op := range r.Operators {
					for _, s := range op.States {
						if s.Status == weir.CheckUnreadable {
							unreadable++
							if !strings.Contains(s.Reason, name) || !strings.Contains(s.Reason, damage) {
								t.Errorf("%s: state %q: reason %q does not name the file and what is wrong", damage, s.Name, s.Reason)
							}
						}
					}
				}
				if r.Restores || unreadable == 0 || len(r.Problems) != unreadable ||
					!strings.Contains(r.Problems[0], name) || !strings.Contains(r.Problems[0], "restore from another savepoint") {
					t.Fatalf("%s: report %+v", damage, r)
				}
			}
		}
	})
	t.Run("--check", func(t *testing.T) {
		for _, c := range []struct {
			counter  *declCounter
			restores bool
		}{{&declCounter{extra: true}, true}, {&declCounter{}, false}} {
			jf, rest, err := weir.ParseFlags([]string{"--check", "-s", path, "-p", "3"})
			if err != nil || len(rest) != 0 {
				t.Fatal(rest, err)
			}
			var out strings.Builder
			jf.Stdout = &out
			env := newEnv(jf.Option())
			declJob(env, 3, newPushSource[int64](1), c.counter)
			err = jf.Run(context.Background(), env, "checked")
			var r weir.CheckReport
			if jerr := json.Unmarshal([]byte(out.String()), &r); jerr != nil || r.Restores != c.restores {
				t.Fatalf("--check printed %q (%v), want a report with restores %v", out.String(), jerr, c.restores)
			}
			if (err == nil) != c.restores || !c.restores && !strings.Contains(err.Error(), "the job would not restore from "+path+`: operator `) {
				t.Fatalf("--check: %v", err)
			}
		}
	})
	if _, err := newEnv().Check(); err == nil || !strings.Contains(err.Error(), "nothing to check") {
		t.Errorf("Check without a savepoint: %v", err)
	}
	env := newEnv(weir.FromSavepoint(filepath.Join(t.TempDir(), "missing")))
	declJob(env, 2, newPushSource[int64](1), &declCounter{})
	if _, err := env.Check(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Check of a missing savepoint: %v", err)
	}
}
