package control_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/control"
)

func TestRegistry(t *testing.T) {
	home := t.TempDir()
	r := control.NewRegistry(home)
	if es, err := r.List(); err != nil || len(es) != 0 {
		t.Fatalf("List of a missing registry = %v, %v", es, err)
	}
	now := time.Now().Truncate(time.Millisecond)
	e1 := control.Entry{ID: id1, Name: "alpha", Address: "127.0.0.1:1", PID: os.Getpid(), Started: now}
	e2 := control.Entry{ID: id2, Name: "beta", Address: "127.0.0.1:2", PID: os.Getpid(), Started: now.Add(-time.Second)}
	for _, e := range []control.Entry{e1, e2} {
		if err := r.Register(e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].ID != id2 || es[1].ID != id1 || !es[1].Started.Equal(now) || es[1].Address != e1.Address {
		t.Fatalf("List = %+v, want beta then alpha", es)
	}
	got, err := r.Lookup(id1)
	if err != nil || got.Name != "alpha" {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	// Nothing but entries is left in the directory (no temporary files).
	des, _ := os.ReadDir(r.Dir())
	if len(des) != 2 {
		t.Fatalf("registry holds %d files, want 2", len(des))
	}
	if err := r.Remove(id1); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(id1); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := r.Lookup(id1); !errors.Is(err, control.ErrUnknownJob) {
		t.Fatalf("Lookup after Remove: %v", err)
	}
	for _, bad := range []string{"../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "short"} {
		if _, err := r.Lookup(bad); !errors.Is(err, control.ErrBadJobID) {
			t.Errorf("Lookup(%q) = %v, want ErrBadJobID", bad, err)
		}
		if err := r.Register(control.Entry{ID: bad}); !errors.Is(err, control.ErrBadJobID) {
			t.Errorf("Register(%q) = %v, want ErrBadJobID", bad, err)
		}
	}
}

// TestRegistryRemovesStaleEntries registers an entry for a process that
// has exited; List and Lookup drop and delete it, and leave files that
// are not entries alone.
func TestRegistryRemovesStaleEntries(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no liveness check on windows")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	dead := cmd.Process.Pid // reaped: no such process (unless reused, unlikely)
	r := control.NewRegistry(t.TempDir())
	if err := r.Register(control.Entry{ID: id1, Name: "dead", PID: dead, Address: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(control.Entry{ID: id2, Name: "dead too", PID: dead, Address: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(r.Dir(), "notes.txt")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if es, err := r.List(); err != nil || len(es) != 0 {
		t.Fatalf("List = %+v, %v; want no live entries", es, err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), id1+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale entry not removed: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("List removed a file that is not an entry: %v", err)
	}
	if err := r.Register(control.Entry{ID: id1, Name: "dead", PID: dead, Address: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(id1); !errors.Is(err, control.ErrUnknownJob) {
		t.Fatalf("Lookup of a dead job: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), id1+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Lookup did not remove the stale entry: %v", err)
	}
}

func TestDefaultHome(t *testing.T) {
	t.Setenv(control.HomeEnv, "/x/y")
	if h, err := control.DefaultHome(); err != nil || h != "/x/y" {
		t.Fatalf("DefaultHome = %q, %v", h, err)
	}
	t.Setenv(control.HomeEnv, "")
	h, err := control.DefaultHome()
	if err == nil && filepath.Base(h) != ".weir" {
		t.Fatalf("DefaultHome = %q", h)
	}
}
