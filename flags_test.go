package weir_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/internal/control"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want weir.JobFlags
		rest []string
	}{
		{"none", nil, weir.JobFlags{}, nil},
		{"short", []string{"-s", "/sp", "-n", "-p", "3"}, weir.JobFlags{FromSavepoint: "/sp", AllowNonRestoredState: true, Parallelism: 3}, nil},
		{"long, with =", []string{"--from-savepoint=/sp", "--allow-non-restored-state", "--parallelism=2", "--restore-mode", "claim", "--plan"},
			weir.JobFlags{FromSavepoint: "/sp", AllowNonRestoredState: true, Parallelism: 2, RestoreMode: weir.Claim, Plan: true}, nil},
		{"Flink's spelling of the mode", []string{"--restore-mode=NO_CLAIM"}, weir.JobFlags{RestoreMode: weir.NoClaim}, nil},
		{"job flags are left in order", []string{"-query", "q5", "-p", "2", "-events", "0", "input.txt", "-n=false"},
			weir.JobFlags{Parallelism: 2}, []string{"-query", "q5", "-events", "0", "input.txt"}},
		{"stops at --", []string{"-p", "2", "--", "-p", "3"}, weir.JobFlags{Parallelism: 2}, []string{"--", "-p", "3"}},
		{"single dash and help are the job's", []string{"-", "-h", "--help"}, weir.JobFlags{}, []string{"-", "-h", "--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jf, rest, err := weir.ParseFlags(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if jf.FromSavepoint != tc.want.FromSavepoint || jf.AllowNonRestoredState != tc.want.AllowNonRestoredState ||
				jf.Parallelism != tc.want.Parallelism || jf.RestoreMode != tc.want.RestoreMode || jf.Plan != tc.want.Plan {
				t.Errorf("ParseFlags(%q) = %+v, want %+v", tc.args, *jf, tc.want)
			}
			if !slices.Equal(rest, tc.rest) || !slices.Equal(jf.Args(), tc.rest) {
				t.Errorf("rest = %q (Args %q), want %q", rest, jf.Args(), tc.rest)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-p", "0"}, []string{`invalid value "0" for flag -p`, ">= 1"}},
		{[]string{"--parallelism=many"}, []string{`"many"`, "flag -parallelism"}},
		{[]string{"-p"}, []string{"flag needs an argument: -p"}},
		{[]string{"-s"}, []string{"flag needs an argument: -s"}},
		{[]string{"--restore-mode", "legacy"}, []string{`"legacy"`, "-restore-mode", "claim or no-claim"}},
		{[]string{"-n=perhaps"}, []string{`"perhaps"`, "flag -n"}},
		{[]string{"--config", "/no/such/weir.yaml"}, []string{"-config", "/no/such/weir.yaml"}},
	} {
		_, _, err := weir.ParseFlags(tc.args)
		if err == nil {
			t.Errorf("ParseFlags(%q) succeeded", tc.args)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseFlags(%q): error spans lines: %q", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseFlags(%q) = %q, want it to mention %q", tc.args, err, w)
			}
		}
	}
}

// TestRegisterWithOwnFlags is a job with a flag set of its own.
func TestRegisterWithOwnFlags(t *testing.T) {
	var jf weir.JobFlags
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jf.Register(fs)
	query := fs.String("query", "q0", "query")
	events := fs.Int64("events", 100, "events")
	if err := fs.Parse([]string{"-query", "q5", "-p", "4", "--from-savepoint", "/sp", "-events", "0", "extra"}); err != nil {
		t.Fatal(err)
	}
	if *query != "q5" || *events != 0 || jf.Parallelism != 4 || jf.FromSavepoint != "/sp" || !slices.Equal(fs.Args(), []string{"extra"}) {
		t.Fatalf("query %q events %d flags %+v args %q", *query, *events, jf, fs.Args())
	}
	if env := weir.NewEnvironment(jf.Option()); env.Parallelism() != 4 {
		t.Fatalf("parallelism %d, want 4", env.Parallelism())
	}
	err := fs.Parse([]string{"-p", "-3"})
	if err == nil || err.Error() != `invalid value "-3" for flag -p: must be an integer >= 1` {
		t.Fatalf("-p -3: %v", err)
	}
}

// TestFlagsFromCommandLine runs the test binary as a job that calls
// FlagsFromCommandLine, with flags of its own on flag.CommandLine.
func TestFlagsFromCommandLine(t *testing.T) {
	if args := os.Getenv("WEIR_TEST_FLAGS_ARGS"); args != "" {
		os.Args = append([]string{"job"}, strings.Fields(args)...)
		flag.CommandLine = flag.NewFlagSet("job", flag.ExitOnError)
		rate := flag.Int("rate", 7, "records per second")
		jf := weir.FlagsFromCommandLine()
		fmt.Printf("p=%d s=%s rate=%d args=%q\n", jf.Parallelism, jf.FromSavepoint, *rate, jf.Args())
		os.Exit(0)
	}
	for _, tc := range []struct {
		args     string
		code     int
		out, err string
	}{
		{"-p 2 -rate 9 -s /sp a b", 0, `p=2 s=/sp rate=9 args=["a" "b"]`, ""},
		{"-h", 0, "", "-rate"},
		{"-p 0", 2, "", `job: invalid value "0" for flag -p: must be an integer >= 1`},
		{"-bogus", 2, "", "job: flag provided but not defined: -bogus"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFlagsFromCommandLine$")
		cmd.Env = append(os.Environ(), "WEIR_TEST_FLAGS_ARGS="+tc.args)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.err)
		}
		if tc.code == 2 && strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
			t.Errorf("%s: stderr is not one line: %q", tc.args, stderr.String())
		}
	}
}

// flJob builds a small stateful job: paced numbers, a running sum per key.
func flJob(env *weir.Environment, n int, sink *memory.Sink[string]) {
	nums := make([]int, n)
	for i := range nums {
		nums[i] = i
	}
	src := weir.FromSource(env, memory.NewSource(nums, memory.WithPacing[int](1, time.Millisecond)), weir.NoWatermarks[int]()).UID("numbers")
	sums := weir.KeyBy(src, func(v int) int { return v % 5 }).Reduce(func(a, b int) int { return a + b }).UID("sums")
	weir.To(weir.Map(sums, func(v int) string { return fmt.Sprint(v) }).UID("format"), sink).UID("sink")
}

func flQuiet() weir.Option { return weir.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestRunPlan(t *testing.T) {
	var out strings.Builder
	jf := &weir.JobFlags{Plan: true, Stdout: &out, Home: t.TempDir()}
	env := weir.NewEnvironment(jf.Option(), flQuiet())
	sink := memory.NewSink[string]()
	flJob(env, 10, sink)
	if err := jf.Run(context.Background(), env, "plan"); err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Operators []weir.PlanNode `json:"operators"`
	}
	if err := json.Unmarshal([]byte(out.String()), &plan); err != nil {
		t.Fatalf("--plan output is not JSON: %v\n%s", err, out.String())
	}
	if len(plan.Operators) != 4 || plan.Operators[1].UID != "sums" {
		t.Fatalf("plan: %+v", plan.Operators)
	}
	if len(sink.Results()) != 0 {
		t.Fatal("--plan ran the job")
	}
}

// flStart runs jf.Run in the background and waits for the job to register.
func flStart(t *testing.T, jf *weir.JobFlags, env *weir.Environment) (control.Entry, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- jf.Run(context.Background(), env, "numbers") }()
	reg := control.NewRegistry(jf.Home)
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := reg.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 {
			return es[0], done
		}
		select {
		case err := <-done:
			t.Fatalf("the job ended before registering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not register")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func flWait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("Run did not return; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		return nil
	}
}

// TestRunControlPlane runs a real job through JobFlags.Run and drives it
// through the control API: list, details, savepoint, checkpoint stats,
// stop with savepoint; then resumes from that savepoint at another
// parallelism and cancels it.
func TestRunControlPlane(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()
	home, spDir := t.TempDir(), t.TempDir()

	jf := &weir.JobFlags{Home: home, Parallelism: 2}
	env := weir.NewEnvironment(jf.Option(), flQuiet(), weir.WithSavepointDir(spDir))
	sink1 := memory.NewSink[string]()
	flJob(env, 100_000, sink1)
	entry, done := flStart(t, jf, env)
	if !control.ValidJobID(entry.ID) || entry.Name != "numbers" || entry.PID != os.Getpid() || !strings.HasPrefix(entry.Address, "127.0.0.1:") {
		t.Fatalf("registry entry %+v", entry)
	}
	c := control.NewClient(entry.Address, nil)
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != entry.ID || jobs[0].State != control.Running {
		t.Fatalf("Jobs = %+v, %v", jobs, err)
	}
	d, err := c.Job(ctx, entry.ID)
	if err != nil || d.Parallelism != 2 || d.RestoredFrom != "" {
		t.Fatalf("Job = %+v, %v", d, err)
	}
	sp, err := c.TriggerSavepoint(ctx, entry.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil || filepath.Dir(sp) != spDir {
		t.Fatalf("savepoint %s: %v", sp, err)
	}
	if _, err := c.TriggerCheckpoint(ctx, entry.ID); err == nil || !strings.Contains(err.Error(), "checkpoint directory") {
		t.Fatalf("checkpoint without a directory: %v", err)
	}
	if st, err := c.Checkpoints(ctx, entry.ID); err != nil || st.Latest.Completed != nil {
		t.Fatalf("Checkpoints = %+v, %v", st, err)
	}
	stopDir := filepath.Join(t.TempDir(), "stops")
	stopped, err := c.Stop(ctx, entry.ID, stopDir, false)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(stopped) != stopDir {
		t.Fatalf("stop savepoint %s is not in %s", stopped, stopDir)
	}
	if err := flWait(t, done); err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if es, _ := control.NewRegistry(home).List(); len(es) != 0 {
		t.Fatalf("registry after the job ended: %+v", es)
	}
	if _, err := c.Jobs(ctx); !control.Unreachable(err) {
		t.Fatalf("control server after the job ended: %v, want connection refused", err)
	}

	// Resume at parallelism 3, then cancel.
	jf2, rest, err := weir.ParseFlags([]string{"-s", stopped, "-p", "3"})
	if err != nil || len(rest) != 0 {
		t.Fatal(rest, err)
	}
	jf2.Home = home
	env2 := weir.NewEnvironment(jf2.Option(), flQuiet())
	flJob(env2, 100_000, memory.NewSink[string]())
	entry2, done2 := flStart(t, jf2, env2)
	c2 := control.NewClient(entry2.Address, nil)
	d, err = c2.Job(ctx, entry2.ID)
	if err != nil || d.RestoredFrom != stopped || d.RestoreMode != "no-claim" || d.Parallelism != 3 || entry2.ID == entry.ID {
		t.Fatalf("resumed job: %+v, %v", d, err)
	}
	d, err = c2.Cancel(ctx, entry2.ID)
	if err != nil || d.State != control.Canceled {
		t.Fatalf("Cancel = %+v, %v", d, err)
	}
	if err := flWait(t, done2); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Run after cancel = %v, want a cancellation", err)
	}
	if _, err := os.Stat(filepath.Join(stopped, "_metadata")); err != nil {
		t.Fatalf("no-claim restore touched the savepoint: %v", err)
	}
	checkNoLeaks(t, before)
}

// TestRunBadRESTAddress: a rest.address that cannot be bound fails Run,
// naming the address, and leaves no job running.
func TestRunBadRESTAddress(t *testing.T) {
	jf := &weir.JobFlags{Home: t.TempDir(), Config: &weir.Config{RESTAddress: "192.0.2.1:1"}}
	env := weir.NewEnvironment(jf.Option(), flQuiet())
	flJob(env, 1000, memory.NewSink[string]())
	err := jf.Run(context.Background(), env, "numbers")
	if err == nil || !strings.Contains(err.Error(), "192.0.2.1:1") || !strings.Contains(err.Error(), "rest.address") {
		t.Fatalf("Run = %v, want an error naming the address", err)
	}
}

// TestParseParallelism: -p takes an integer >= 1, surrounding spaces
// allowed, in job binaries and the weir command alike.
func TestParseParallelism(t *testing.T) {
	for s, want := range map[string]int{"1": 1, " 12 ": 12, "0": 0, "-2": 0, "x": 0, "": 0, "2.5": 0} {
		n, err := weir.ParseParallelism(s)
		if want == 0 {
			if err == nil {
				t.Errorf("%q: parsed as %d, want an error", s, n)
			}
			continue
		}
		if err != nil || n != want {
			t.Errorf("%q: got %d, %v; want %d", s, n, err, want)
		}
	}
}
