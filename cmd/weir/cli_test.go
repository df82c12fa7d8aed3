package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/control"
	"github.com/weirstream/weir/internal/control/controltest"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/serde"
)

const (
	jobA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	jobB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// weirCmd runs the weir command in-process and returns its standard output
// and error and the error main would print (on one line: see
// TestFailuresExitWithOneLine for the built command).
func weirCmd(t *testing.T, a *app, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot(a)
	var out, errb strings.Builder
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	err = root.Execute()
	return out.String(), errb.String(), err
}

// lastLine returns the last line of s.
func lastOf(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// fakeJob serves a fake job on an httptest server and registers it.
func fakeJob(t *testing.T, home, id, name string) (*controltest.Job, *control.Server) {
	t.Helper()
	j := controltest.NewJob(id)
	srv := control.NewServer(control.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.Add(j, control.JobInfo{Name: name, Started: time.Now()})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	err := control.NewRegistry(home).Register(control.Entry{ID: id, Name: name, Address: hs.Listener.Addr().String(), PID: os.Getpid(), Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return j, srv
}

func TestListSavepointStopCancel(t *testing.T) {
	home := t.TempDir()
	a := &app{home: home}
	ja, _ := fakeJob(t, home, jobA, "alpha")
	jb, srvB := fakeJob(t, home, jobB, "beta")

	out, _, err := weirCmd(t, a, "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], jobA+"  RUNNING") || !strings.HasSuffix(lines[0], "alpha") ||
		!strings.HasPrefix(lines[1], jobB+"  RUNNING") {
		t.Fatalf("list:\n%s", out)
	}

	// A savepoint into a relative directory: the job gets it absolute.
	t.Chdir(t.TempDir())
	cwd, _ := os.Getwd()
	out, _, err = weirCmd(t, a, "savepoint", jobA, "sps")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cwd, "sps", "savepoint-fake-1"); lastOf(out) != want {
		t.Fatalf("savepoint printed %q last, want %q", out, want)
	}
	_, _, err = weirCmd(t, a, "savepoint", jobA)
	if err == nil || !strings.Contains(err.Error(), "savepoint of job "+jobA+" failed: no savepoint directory") {
		t.Fatalf("savepoint without a directory: %v", err)
	}

	out, _, err = weirCmd(t, a, "stop", "--savepoint-path", "/stops", "--drain", jobA)
	if err != nil || lastOf(out) != "/stops/savepoint-fake-2" {
		t.Fatalf("stop: %q, %v", out, err)
	}
	if got, want := ja.Requests(), []string{"savepoint " + filepath.Join(cwd, "sps"), "savepoint ", "stop /stops drain=true"}; !slices.Equal(got, want) {
		t.Fatalf("job A got %q, want %q", got, want)
	}

	out, _, err = weirCmd(t, a, "cancel", jobB)
	if err != nil || !strings.Contains(out, "Cancelled job "+jobB+" (CANCELED)") {
		t.Fatalf("cancel: %q, %v", out, err)
	}
	srvB.JobEnded(jobB, jb.Wait())
	_, _, err = weirCmd(t, a, "cancel", jobB)
	if err == nil || !strings.Contains(err.Error(), "CANCELED, not RUNNING") {
		t.Fatalf("second cancel: %v", err)
	}
	// Job A was stopped (the fake's server still answers, with FINISHED):
	// list shows neither.
	out, errOut, err := weirCmd(t, a, "list")
	if err != nil || out != "" || !strings.Contains(errOut, "No running jobs.") {
		t.Fatalf("list after: %q %q %v", out, errOut, err)
	}
}

func TestJobErrors(t *testing.T) {
	home := t.TempDir()
	a := &app{home: home}
	reg := control.NewRegistry(home)

	// A registered job whose address refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	if err := reg.Register(control.Entry{ID: jobA, Name: "gone", Address: closed, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	// A registered job whose process is dead.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	if err := reg.Register(control.Entry{ID: jobB, Name: "dead", Address: closed, PID: dead.Process.Pid}); err != nil {
		t.Fatal(err)
	}
	// A server that does not serve the registered ID.
	const jobC = "cccccccccccccccccccccccccccccccc"
	fakeJob(t, home, jobC, "gamma")
	const jobD = "dddddddddddddddddddddddddddddddd"
	e, _ := reg.Lookup(jobC)
	if err := reg.Register(control.Entry{ID: jobD, Name: "impostor", Address: e.Address, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stop", "xyz"}, `"xyz" is not a job ID`},
		{[]string{"stop", strings.ToUpper(jobA)}, "is not a job ID"},
		{[]string{"cancel", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}, "no running job with ID eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"},
		{[]string{"savepoint", jobA, "/x"}, "job " + jobA + " is not reachable at " + closed + " (connection refused)"},
		{[]string{"savepoint", jobA, "/x"}, "no running job with ID " + jobA}, // the stale entry was removed
		{[]string{"stop", jobB}, "process " + fmt.Sprint(dead.Process.Pid) + " has exited"},
		{[]string{"cancel", jobD}, "does not serve job " + jobD},
		{[]string{"stop"}, "usage: weir stop [--savepoint-path DIR] [--drain] JOB_ID (got 0 arguments); see weir stop --help"},
		{[]string{"cancel", "a", "b"}, "usage: weir cancel JOB_ID (got 2 arguments)"},
		{[]string{"inspect"}, "usage: weir inspect [--json] [--verify] PATH (got 0 arguments)"},
		{[]string{"run"}, "usage: weir run [-s PATH]"},
		{[]string{"list", "--bogus"}, "unknown flag: --bogus; see weir list --help"},
		{[]string{"savepoint"}, "usage: weir savepoint JOB_ID [DIR]"},
		{[]string{"savepoint", "--dispose", "/x", jobA}, "takes no other arguments"},
		{[]string{"run", "-p", "0", "true"}, `invalid argument "0" for "-p, --parallelism" flag: must be an integer >= 1`},
		{[]string{"run", "-p", "x", "true"}, `invalid argument "x" for "-p, --parallelism" flag: must be an integer >= 1`},
		{[]string{"run", "no-such-binary-in-path"}, "cannot start the job binary no-such-binary-in-path: " + `exec: "no-such-binary-in-path": executable file not found in $PATH; give the path of a job binary built with go build`},
		{[]string{"run", "--restore-mode", "legacy", "true"}, `--restore-mode must be claim or no-claim, got "legacy"`},
		{[]string{"run", "--uid-map", "a", "true"}, `--uid-map: "a": want OLD=NEW`},
		{[]string{"run", "--uid-map", "a=b", "--uid-map", "a=c", "true"}, `--uid-map: "a=c": a is already mapped to b`},
		{[]string{"run", "-s", "/no/such/savepoint", "true"}, "--from-savepoint: savepoint /no/such/savepoint: no such file or directory"},
		{[]string{"run", "/no/such/binary"}, "cannot start the job binary /no/such/binary: no such file or directory; give the path of a job binary built with go build"},
		{[]string{"inspect", "/no/such/savepoint"}, "no such file or directory"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		_, _, err := weirCmd(t, a, tc.args...)
		if err == nil || !strings.Contains(oneLine(err), tc.want) {
			t.Errorf("weir %q = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if es, _ := reg.List(); len(es) != 2 { // gamma and the impostor
		t.Errorf("registry after: %+v", es)
	}
}

// TestRunAttachedForwardsStatus runs small programs in the foreground.
func TestRunAttachedForwardsStatus(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	a := &app{home: t.TempDir()}
	script := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(script, []byte("#!"+sh+"\necho \"$@\"\necho \"home=$WEIR_HOME\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _, err := weirCmd(t, a, "run", "-p", "3", "-s", writeSavepoint(t, t.TempDir()), "-n", "--restore-mode", "CLAIM", script, "-x", "y")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "--from-savepoint=") || !strings.Contains(out, " --allow-non-restored-state --parallelism=3 --restore-mode=claim -x y\n") ||
		!strings.Contains(out, "home="+a.home+"\n") {
		t.Fatalf("the job got:\n%s", out)
	}
	_, _, err = weirCmd(t, a, "run", sh, "-c", "exit 7")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 7 || err.Error() != "the job exited with status 7" {
		t.Fatalf("exit 7: %v", err)
	}
	_, _, err = weirCmd(t, a, "run", sh, "-c", "kill -KILL $$")
	if !errors.As(err, &ee) || ee.code != 128+9 {
		t.Fatalf("killed: %v", err)
	}
	_, _, err = weirCmd(t, a, "run", "-d", sh, "-c", "echo starting; echo 'job: bad flag' >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "the job exited (status 3) before it registered: job: bad flag (output in "+a.home) {
		t.Fatalf("detached job that fails: %v", err)
	}
	// A job that succeeds without starting one (--plan): its output is the
	// answer.
	out, stderr, err := weirCmd(t, a, "run", "-d", sh, "-c", "echo '{\"plan\": 1}'")
	if err != nil || out != "{\"plan\": 1}\n" || !strings.Contains(stderr, "without starting a job") {
		t.Fatalf("detached job that prints and exits 0: %v, stdout %q, stderr %q", err, out, stderr)
	}
	a.registerTimeout = 200 * time.Millisecond
	_, _, err = weirCmd(t, a, "run", "-d", sh, "-c", "sleep 5")
	if err == nil || !strings.Contains(err.Error(), "did not register within 200ms") {
		t.Fatalf("detached job that never registers: %v", err)
	}
}

// writeSavepoint runs a small stateful job and stops it with a savepoint
// into dir.
func writeSavepoint(t *testing.T, dir string) string {
	t.Helper()
	env := weir.NewEnvironment(weir.WithParallelism(2), weir.WithSavepointDir(dir),
		weir.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	nums := make([]int, 100_000)
	for i := range nums {
		nums[i] = i
	}
	src := weir.FromSource(env, memory.NewSource(nums, memory.WithPacing[int](10, time.Millisecond)), weir.NoWatermarks[int]()).UID("numbers")
	sums := weir.KeyBy(src, func(v int) string { return fmt.Sprint("k", v%7) }).Reduce(func(a, b int) int { return a + b }).UID("sums").Name("running sums")
	weir.To(sums, memory.NewSink[int]()).UID("sink")
	c, err := env.ExecuteAsync(context.Background(), "numbers")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	path, err := c.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspect(t *testing.T) {
	sp := writeSavepoint(t, t.TempDir())
	a := &app{home: t.TempDir()}
	out, _, err := weirCmd(t, a, "inspect", "--verify", sp)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"savepoint " + sp + "\n",
		"  job:       numbers (",
		"  snapshot:  savepoint 1, taken ",
		"  written by weir " + weir.Version + ", format version 1\n",
		"  verified:  every data block's checksum matches\n",
		`uid "sums"  name "running sums"  parallelism 2`,
		`uid "numbers"`,
		`state "source-splits"  operator-list-even-split`,
		"    key        ",
		"    namespace  ",
		"    value      ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = weirCmd(t, a, "inspect", "--json", filepath.Join(sp, "_metadata"))
	if err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	s, err := format.Open(sp)
	if err != nil {
		t.Fatal(err)
	}
	md := s.Metadata()
	if r.Path != sp || r.Kind != "savepoint" || r.JobName != "numbers" || r.SnapshotID != md.SnapshotID || r.Timestamp != md.Timestamp ||
		r.EngineVersion != weir.Version || r.Totals.Operators != len(md.Operators) || r.Verified {
		t.Fatalf("report header: %+v", r)
	}
	var sums *operatorReport
	for i := range r.Operators {
		if r.Operators[i].UID == "sums" {
			sums = &r.Operators[i]
		}
	}
	if sums == nil || sums.Parallelism != 2 || len(sums.States) == 0 {
		t.Fatalf("no sums operator in %+v", r.Operators)
	}
	var entries, bytes uint64
	for _, st := range sums.States {
		if st.Kind == "value" || st.Kind == "reducing" {
			// (The engine records no schemas yet: "-" or the real ones.)
			if (st.Key != "string" && st.Key != "-") || st.Entries == 0 || st.Entries > 7 || st.Bytes == 0 || st.Files == 0 {
				t.Errorf("sums state %+v", st)
			}
		}
		entries += st.Entries
		bytes += st.Bytes
	}
	if entries != sums.Entries || bytes != sums.Bytes || r.Totals.Entries < entries {
		t.Errorf("sums totals %d entries %d bytes, states add to %d and %d", sums.Entries, sums.Bytes, entries, bytes)
	}

	// A damaged data file: inspect still reads the metadata, --verify fails
	// naming the file.
	data, _ := filepath.Glob(filepath.Join(sp, "keyed-*.dat"))
	if len(data) == 0 {
		t.Fatal("no data files")
	}
	b, _ := os.ReadFile(data[0])
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(data[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := weirCmd(t, a, "inspect", sp); err != nil {
		t.Fatalf("inspect of a damaged savepoint without --verify: %v", err)
	}
	_, _, err = weirCmd(t, a, "inspect", "--verify", sp)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(data[0])) || !errors.Is(err, format.ErrCorrupt) {
		t.Fatalf("inspect --verify of a damaged savepoint: %v", err)
	}

	// A truncated data file is found without --verify: the report is
	// printed, with the state marked, and inspect fails naming the file.
	if err := os.WriteFile(data[0], b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"inspect", sp}, {"inspect", "--json", sp}} {
		out, _, err = weirCmd(t, a, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), filepath.Base(data[0])) ||
			!strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "cannot be restored") {
			t.Fatalf("%v of a truncated savepoint: %v", args, err)
		}
		if !strings.Contains(out, `uid "sums"`) && !strings.Contains(out, `"uid": "sums"`) {
			t.Errorf("%v printed no report:\n%s", args, out)
		}
		if !strings.Contains(out, "UNREADABLE savepoint "+sp+": "+filepath.Base(data[0])+": truncated") && !strings.Contains(out, `"problem": "savepoint `+sp) {
			t.Errorf("%v does not mark the unreadable state:\n%s", args, out)
		}
	}
}

type userCount struct {
	User  string
	Count int64
}

// TestInspectSchemas inspects a snapshot written directly in the format,
// with schemas for every part of a keyed state.
func TestInspectSchemas(t *testing.T) {
	schema := func(s serde.Schema, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return serde.AppendSchema(nil, s)
	}
	jobID := [16]byte{1, 2, 3}
	w, err := format.Create(t.TempDir(), jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	op := format.OperatorID{9}
	kw, err := w.Keyed(op, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.StartState("counts"); err != nil {
		t.Fatal(err)
	}
	for h := uint64(1); h <= 3; h++ {
		if err := kw.Add(backend.Entry{Hash: h, Key: []byte{byte(h)}, Namespace: []byte{0}, Value: []byte{1, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	md := &format.Metadata{EngineVersion: "9.9.9", JobName: "schemas", JobID: jobID, SnapshotID: 4, Kind: format.Savepoint, Timestamp: 1_000,
		Operators: []format.Operator{{ID: op, Name: "counter", Parallelism: 1, States: []format.State{{
			Name: "counts", Kind: format.KeyedValue, Files: []format.KeyedFile{files["counts"]},
			KeySchema: schema(serde.SchemaOf[string]()), NamespaceSchema: schema(serde.SchemaOf[[]int64]()),
			ValueSchema: append(schema(serde.SchemaOf[userCount]()), 0xff),
		}}}}}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
	out, _, err := weirCmd(t, &app{}, "inspect", w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  snapshot:  savepoint 4, taken 1970-01-01T00:00:01Z\n",
		"  written by weir 9.9.9",
		"  totals:    1 operators, 1 states, 3 entries, ",
		`operator 09000000000000000000000000000000  uid -  name "counter"  parallelism 1  (1 state, 3 entries, `,
		`  state "counts"  value  3 entries  `,
		" in 1 file\n",
		"    key        string\n",
		"    namespace  []int64\n",
		"    value      struct main.userCount{User string, Count int64} (+1 bytes after the schema)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if got := schemaString([]byte{0x7f, 1}); !strings.HasPrefix(got, "(unreadable schema: ") {
		t.Errorf("schemaString(garbage) = %q", got)
	}
}

func TestDispose(t *testing.T) {
	a := &app{home: t.TempDir()}
	root := t.TempDir()

	// Not a savepoint: nothing is deleted.
	plain := filepath.Join(root, "plain")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(root, "fake")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "_metadata"), []byte("not a savepoint at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := writeSavepoint(t, filepath.Join(root, "extra"))
	if err := os.WriteFile(filepath.Join(extra, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := writeSavepoint(t, filepath.Join(root, "sub"))
	if err := os.MkdirAll(filepath.Join(sub, "keep", "me"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "keep", "me", "x"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	chk := writeCheckpoint(t, filepath.Join(root, "checkpoints"))
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(root, "missing"), "no such file or directory"},
		{plain, "incomplete snapshot (no _metadata)"},
		{filepath.Join(plain, "precious.txt"), "not a weir savepoint"},
		{fake, "not a weir savepoint"},
		{extra, "it holds notes.txt, which is not part of the savepoint"},
		{sub, "which is not part of the savepoint"},
		{chk, "it is a checkpoint"},
	} {
		_, _, err := weirCmd(t, a, "savepoint", "--dispose", tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not disposing") {
			t.Errorf("dispose %s = %v, want a refusal with %q", tc.path, err, tc.want)
		}
	}
	for _, p := range []string{filepath.Join(plain, "precious.txt"), filepath.Join(fake, "_metadata"),
		filepath.Join(extra, "_metadata"), filepath.Join(extra, "notes.txt"), filepath.Join(sub, "keep", "me", "x"), filepath.Join(chk, "_metadata")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a refused dispose deleted %s: %v", p, err)
		}
	}

	// Savepoints are disposed of, by directory or by _metadata file.
	for i, arg := range []func(string) string{
		func(p string) string { return p },
		func(p string) string { return filepath.Join(p, "_metadata") },
	} {
		sp := writeSavepoint(t, filepath.Join(root, fmt.Sprint("ok", i)))
		out, _, err := weirCmd(t, a, "savepoint", "--dispose", arg(sp))
		if err != nil || !strings.Contains(out, "Disposed of savepoint "+sp) {
			t.Fatalf("dispose %s: %q, %v", arg(sp), out, err)
		}
		if _, err := os.Stat(sp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still exists: %v", sp, err)
		}
		if _, err := os.Stat(filepath.Dir(sp)); err != nil {
			t.Fatalf("dispose deleted the parent directory: %v", err)
		}
	}
}

// writeCheckpoint runs a small job and takes a checkpoint under dir.
func writeCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	env := weir.NewEnvironment(weir.WithCheckpointDir(dir), weir.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	src := weir.FromSource(env, memory.NewSource(make([]int, 100_000), memory.WithPacing[int](10, time.Millisecond)), weir.NoWatermarks[int]()).UID("numbers")
	weir.To(weir.KeyBy(src, func(v int) int { return v }).Reduce(func(a, b int) int { return a + b }).UID("sums"), memory.NewSink[int]()).UID("sink")
	c, err := env.ExecuteAsync(context.Background(), "numbers")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Cancel(); _ = c.Wait() }()
	path, err := c.TriggerCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckCommand drives weir check with stand-in job binaries: a report
// that says the job would not restore exits 1 naming the first problem,
// after printing the report; a binary that answers no report, or cannot
// start, fails with one line saying so.
func TestCheckCommand(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	a := &app{home: t.TempDir()}
	sp := writeSavepoint(t, t.TempDir())
	script := filepath.Join(t.TempDir(), "job.sh")
	report := `{"snapshot": "/sp", "restores": false, "problems": ["the job has no operator 01 (uid sums, name \"s\") with state x: give it its old UID", "second"],
  "operators": [{"id": "01", "uid": "sums", "name": "s", "status": "dropped", "snapshot_parallelism": 2, "states": [{"name": "x", "kind": "keyed state", "status": "dropped"}]}]}`
	argsFile := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(script, []byte("#!"+sh+"\necho \"$@\" > "+argsFile+"\ncat <<'EOF'\n"+report+"\nEOF\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _, err := weirCmd(t, a, "check", "-s", sp, "-n", "-p", "2", "--uid-map", "old-b=new-b,old-a=new-a", "--uid-map", "0123=c", script, "-x")
	if args, _ := os.ReadFile(argsFile); string(args) != "--check --from-savepoint="+sp+" --allow-non-restored-state --parallelism=2 --uid-map=0123=c --uid-map=old-a=new-a --uid-map=old-b=new-b -x\n" {
		t.Errorf("the job binary got %q", args)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || err.Error() != `the job would not restore from /sp: the job has no operator 01 (uid sums, name "s") with state x: give it its old UID (and 1 more problem)` {
		t.Fatalf("check of a job that would not restore: %v", err)
	}
	for _, want := range []string{"restores: no (2 problems)", `operator 01  uid "sums"  name "s"  dropped  (parallelism 2, not in the job)`, `  keyed state "x"  dropped`, "problems:\n  - the job has no operator 01"} {
		if !strings.Contains(out, want) {
			t.Errorf("check printed no %q:\n%s", want, out)
		}
	}
	if _, _, err := weirCmd(t, a, "check", sh, "-c", "true"); err == nil || !strings.Contains(err.Error(), "give the savepoint to check against") {
		t.Errorf("check without -s: %v", err)
	}
	stand := func(body string) string {
		p := filepath.Join(t.TempDir(), "stand-in.sh")
		if err := os.WriteFile(p, []byte("#!"+sh+"\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noCheck := stand("echo 'job: flag provided but not defined: -check' >&2; exit 2")
	if _, _, err := weirCmd(t, a, "check", "-s", sp, noCheck); err == nil || err.Error() != noCheck+" cannot check: job: flag provided but not defined: -check" {
		t.Errorf("check of a binary without --check: %v", err)
	}
	if _, _, err := weirCmd(t, a, "check", "-s", sp, stand("echo hello")); err == nil || !strings.Contains(err.Error(), "did not answer --check with a report") {
		t.Errorf("check of a binary that prints no report: %v", err)
	}
	if _, _, err := weirCmd(t, a, "check", "-s", sp, "/no/such/binary"); err == nil || !strings.Contains(err.Error(), "cannot start the job binary /no/such/binary") {
		t.Errorf("check of a missing binary: %v", err)
	}
}

// TestRunHintsDotSlash: a job binary named without a path that is not on
// PATH but lies in the current directory gets the hint to write ./NAME.
func TestRunHintsDotSlash(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "myjob"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, _, err := weirCmd(t, &app{home: t.TempDir()}, "run", "myjob")
	if err == nil || !strings.HasSuffix(err.Error(), "; to run the binary in this directory, write ./myjob") {
		t.Fatalf("run myjob: %v", err)
	}
}

// TestPrintCheckUIDMap: an operator matched through --uid-map says whose
// state it takes.
func TestPrintCheckUIDMap(t *testing.T) {
	var b strings.Builder
	printCheck(&b, &weir.CheckReport{Snapshot: "/sp", Restores: true, Operators: []weir.CheckedOperator{
		{ID: "02", UID: "sum-v2", Name: "s", Status: weir.CheckMatched, SnapshotParallelism: 2, Parallelism: 3, RestoresFrom: "01", RestoresFromUID: "sum-v1"},
	}})
	if want := `operator 02  uid "sum-v2"  name "s"  matched  (parallelism 2 -> 3, the state of operator 01 uid sum-v1 by --uid-map)`; !strings.Contains(b.String(), want) {
		t.Fatalf("printed:\n%s\nwant a line %q", b.String(), want)
	}
}

// TestPrintCheckUnreadable: a state whose data file a restore could not
// open is printed with why, and one problem is counted as one.
func TestPrintCheckUnreadable(t *testing.T) {
	var b strings.Builder
	reason := "savepoint /sp: keyed-01-0.dat: truncated: expected at least 2079 bytes, found 2069"
	printCheck(&b, &weir.CheckReport{Snapshot: "/sp", Problems: []string{"operator 01 keyed state \"x\" cannot be restored: " + reason},
		Operators: []weir.CheckedOperator{{ID: "01", UID: "sums", Name: "s", Status: weir.CheckMatched, SnapshotParallelism: 1, Parallelism: 1,
			States: []weir.CheckedState{{Name: "x", Kind: "keyed state", Status: weir.CheckUnreadable, Reason: reason}}}}})
	for _, want := range []string{"restores: no (1 problem)\n", `  keyed state "x"  unreadable: ` + reason + "\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed:\n%s\nwant %q", b.String(), want)
		}
	}
}
