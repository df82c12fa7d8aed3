package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailuresExitWithOneLine runs the built weir command on bad input and
// checks what an operator sees: a non-zero exit status, nothing on standard
// output, and one line on standard error that starts with "weir:" and says
// what went wrong.
func TestFailuresExitWithOneLine(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir, "weir", "github.com/weirstream/weir/cmd/weir")
	notSavepoint := filepath.Join(dir, "not-a-savepoint")
	if err := os.MkdirAll(notSavepoint, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notSavepoint, "_metadata"), []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // in the error line
	}{
		{[]string{"inspect", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"inspect", notSavepoint}, "_metadata"},
		{[]string{"savepoint", "--dispose", notSavepoint}, "_metadata"},
		{[]string{"stop"}, "arg"},
		{[]string{"cancel", "not-a-job-id"}, "not-a-job-id"},
		{[]string{"list", "--no-such-flag"}, "no-such-flag"},
		{[]string{"no-such-command"}, "no-such-command"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), "WEIR_HOME="+filepath.Join(dir, "home"))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("weir %q: exit %v, want a non-zero status", tc.args, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "weir: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("weir %q: standard error %q, want one line starting \"weir: \" that mentions %q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("weir %q printed %q on standard output", tc.args, stdout.String())
		}
	}
	// The savepoint that was refused is untouched.
	if b, err := os.ReadFile(filepath.Join(notSavepoint, "_metadata")); err != nil || string(b) != "hello\nworld\n" {
		t.Fatalf("the directory given to --dispose was changed: %q, %v", b, err)
	}
}
