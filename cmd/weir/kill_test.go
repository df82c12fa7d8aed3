package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validLines returns the distinct complete JSON lines of the files, sorted:
// a process killed mid-write may leave a partial last line.
func validLines(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) > 0 && json.Valid(l) {
				out = append(out, string(l))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// latestCheckpoint returns the newest completed checkpoint under dir
// (<dir>/<job id>/chk-<n> with a _metadata).
func latestCheckpoint(dir string) (string, int) {
	best, bestN := "", -1
	mds, _ := filepath.Glob(filepath.Join(dir, "*", "chk-*", "_metadata"))
	for _, md := range mds {
		chk := filepath.Dir(md)
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(chk), "chk-"))
		if err == nil && n > bestN {
			best, bestN = chk, n
		}
	}
	return best, bestN
}

// TestKilledJobRestartsFromCheckpoint kills a real job process with SIGKILL
// mid-run and restarts it from its latest retained checkpoint at another
// parallelism: no state is lost — every result is one the uninterrupted run
// produces and none is missing (results between the checkpoint and the kill
// may appear twice: the sink is at-least-once).
func TestKilledJobRestartsFromCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a job binary")
	}
	dir := t.TempDir()
	bin := buildOrders(t, dir)
	home := filepath.Join(dir, "home")
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "WEIR_HOME="+home)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s stderr:\n%s", filepath.Base(bin), stderr.String())
			}
		})
		return cmd
	}
	const orders = "30000"
	ref := filepath.Join(dir, "ref.jsonl")
	if err := run("-orders", orders, "-p", "2", "-out", ref).Run(); err != nil {
		t.Fatal(err)
	}

	chkDir := filepath.Join(dir, "checkpoints")
	conf := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("state.checkpoints.dir: %s\nexecution.checkpointing.interval: 50ms\nstate.checkpoints.num-retained: 2\n", chkDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out1 := filepath.Join(dir, "run1.jsonl")
	first := run("-orders", orders, "-rate", "15000", "-p", "2", "--config", conf, "-out", out1)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it take a few checkpoints, then kill it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, n := latestCheckpoint(chkDir); n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("no checkpoint completed within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = first.Wait()
	chk, n := latestCheckpoint(chkDir)
	t.Logf("killed after checkpoint %d: %s", n, chk)

	out2 := filepath.Join(dir, "run2.jsonl")
	if err := run("-orders", orders, "-p", "3", "-s", chk, "-out", out2).Run(); err != nil {
		t.Fatalf("restart from %s: %v", chk, err)
	}
	got, want := validLines(t, out1, out2), validLines(t, ref)
	if !slices.Equal(got, want) {
		t.Fatalf("after kill and restart: %d distinct results, want %d", len(got), len(want))
	}
}
