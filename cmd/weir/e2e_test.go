package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/control"
)

// buildOrders builds the orders example into dir.
func buildOrders(t *testing.T, dir string) string {
	t.Helper()
	return buildBinary(t, dir, "orders", "github.com/weirstream/weir/examples/orders")
}

// buildBinary builds the package pkg into dir as name and returns its path.
func buildBinary(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH:", err)
	}
	cmd := exec.Command(goTool, "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// readLinesSorted returns the lines of a JSON-lines file, sorted.
func readLinesSorted(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(l) > 0 {
				out = append(out, string(l))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestEndToEnd builds the orders example and drives it with the weir
// command: run -d, list, savepoint, inspect, stop with a savepoint, resume
// from it at another parallelism with run -s -p; the two runs' results
// together are exactly those of one uninterrupted run. Then a detached run
// is cancelled.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the orders example")
	}
	dir := t.TempDir()
	bin := buildOrders(t, dir)
	home := filepath.Join(dir, "home")
	a := &app{home: home}
	reg := control.NewRegistry(home)
	t.Cleanup(func() { // never leave a detached job behind
		es, _ := reg.List()
		for _, e := range es {
			_ = syscall.Kill(e.PID, syscall.SIGKILL)
		}
	})
	const orders = "6000"

	// The reference: one uninterrupted run in the foreground.
	ref := filepath.Join(dir, "ref.jsonl")
	if _, _, err := weirCmd(t, a, "run", "-p", "2", bin, "-orders", orders, "-out", ref); err != nil {
		t.Fatal(err)
	}
	want := readLinesSorted(t, ref)
	if len(want) < 100 {
		t.Fatalf("the reference run has only %d results", len(want))
	}

	// Run 1, detached and rate-limited: it would take 6 s.
	out1 := filepath.Join(dir, "run1.jsonl")
	out, _, err := weirCmd(t, a, "run", "-d", "-p", "2", bin, "-orders", orders, "-rate", "1000", "-out", out1)
	if err != nil {
		t.Fatal(err)
	}
	id := lastOf(out)
	if !control.ValidJobID(id) {
		t.Fatalf("run -d printed %q last, want a job ID:\n%s", id, out)
	}
	out, _, err = weirCmd(t, a, "list")
	if err != nil || !strings.HasPrefix(out, id+"  RUNNING") || !strings.Contains(out, "orders") {
		t.Fatalf("list: %q, %v", out, err)
	}
	sps := filepath.Join(dir, "savepoints")
	out, _, err = weirCmd(t, a, "savepoint", id, sps)
	if err != nil {
		t.Fatal(err)
	}
	sp1 := lastOf(out)
	out, _, err = weirCmd(t, a, "inspect", "--json", "--verify", sp1)
	if err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.JobID != id || r.JobName != "orders" || r.Kind != "savepoint" || !r.Verified {
		t.Fatalf("inspect: %+v, %v", r, err)
	}
	time.Sleep(200 * time.Millisecond)
	out, _, err = weirCmd(t, a, "stop", "--savepoint-path", sps, id)
	if err != nil {
		t.Fatal(err)
	}
	sp2 := lastOf(out)
	if filepath.Dir(sp2) != sps || sp2 == sp1 {
		t.Fatalf("stop printed %q last", sp2)
	}
	// The job process exits and removes its entry.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := reg.Lookup(id); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped job is still registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, err := weirCmd(t, a, "stop", id); err == nil || !strings.Contains(err.Error(), "no running job with ID "+id) {
		t.Fatalf("stop of a stopped job: %v", err)
	}
	got1 := readLinesSorted(t, out1)
	if len(got1) >= len(want) {
		t.Fatalf("run 1 produced %d of %d results before the stop: the test stopped nothing", len(got1), len(want))
	}

	// Would the job restore from it at parallelism 3? Checked without
	// running it, or touching the savepoint.
	listing := func() string {
		var b strings.Builder
		ents, err := os.ReadDir(sp2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, e.Name(), fi.Size(), fi.ModTime())
		}
		return b.String()
	}
	before := listing()
	out, _, err = weirCmd(t, a, "check", "-s", sp2, "-p", "3", bin, "-orders", orders, "-out", filepath.Join(dir, "never-written.jsonl"))
	if err != nil || !strings.Contains(out, "restores: yes") || !strings.Contains(out, `uid "orders-per-user"  name "orders-per-user"  matched  (parallelism 2 -> 3)`) ||
		!strings.Contains(out, `keyed state "window-contents"  matched`) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "never-written.jsonl")); err == nil {
		t.Fatal("check opened the job's sink: it created its output file")
	}
	if after := listing(); after != before {
		t.Fatalf("check changed the savepoint:\n%s\nwas\n%s", after, before)
	}
	out, _, err = weirCmd(t, a, "check", "--json", "-s", sp2, bin, "-orders", orders)
	var cr struct {
		Restores  bool
		Operators []struct{ UID, Status string }
	}
	if err != nil || json.Unmarshal([]byte(out), &cr) != nil || !cr.Restores || len(cr.Operators) == 0 {
		t.Fatalf("check --json: %v\n%s", err, out)
	}

	// Run 2: resume at parallelism 3, in the foreground, to the end.
	out2 := filepath.Join(dir, "run2.jsonl")
	if _, _, err := weirCmd(t, a, "run", "-s", sp2, "-p", "3", bin, "-orders", orders, "-out", out2); err != nil {
		t.Fatal(err)
	}
	got := readLinesSorted(t, out1, out2)
	if !slices.Equal(got, want) {
		t.Fatalf("stopped at %d results and resumed: %d results in all, want exactly the %d of one run", len(got1), len(got), len(want))
	}

	// A detached run cancelled: it exits and leaves nothing registered.
	out, _, err = weirCmd(t, a, "run", "-d", bin, "-orders", "0", "-rate", "100", "-out", filepath.Join(dir, "run3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	id3 := lastOf(out)
	out, _, err = weirCmd(t, a, "cancel", id3)
	if err != nil || !strings.Contains(out, "Cancelled job "+id3) {
		t.Fatalf("cancel: %q, %v", out, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if es, _ := reg.List(); len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled job is still registered")
		}
	}
	if out, _, err := weirCmd(t, a, "savepoint", "--dispose", sp1); err != nil || !strings.Contains(out, "Disposed of savepoint") {
		t.Fatalf("dispose: %q, %v", out, err)
	}
}
