package weir

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       Config
	}{
		{"empty", "", Config{}},
		{"nested", `
state:
  savepoints:
    dir: /sp
  checkpoints:
    dir: /cp
    num-retained: 3
execution:
  checkpointing:
    interval: 10s
    timeout: 1m
parallelism:
  default: 4
rest:
  address: 127.0.0.1:8081
`, Config{SavepointDir: "/sp", CheckpointDir: "/cp", RetainedCheckpoints: 3, CheckpointInterval: 10 * time.Second,
			CheckpointTimeout: time.Minute, Parallelism: 4, RESTAddress: "127.0.0.1:8081"}},
		{"flat, as Flink's config.yaml allows", `
state.savepoints.dir: /sp
execution.checkpointing.interval: 1500
parallelism.default: "2"
execution.savepoint.path: /sp/savepoint-1
execution.savepoint.ignore-unclaimed-state: true
execution.savepoint-restore-mode: CLAIM
state.restore.copy-files: true
`, Config{SavepointDir: "/sp", CheckpointInterval: 1500 * time.Millisecond, Parallelism: 2,
			SavepointPath: "/sp/savepoint-1", IgnoreUnclaimedState: true, RestoreMode: Claim, RestoreCopyFiles: true}},
		{"mixed", "state:\n  checkpoints.dir: /cp\nexecution.checkpointing:\n  interval: 0\n", Config{CheckpointDir: "/cp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if *c != tc.want {
				t.Fatalf("ParseConfig = %+v\nwant           %+v", *c, tc.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string // substrings of the error
	}{
		{"state.savepoint.dir: /x", []string{`unknown key "state.savepoint.dir"`, "known keys: ", "state.savepoints.dir", "rest.address"}},
		{"foo: 1\nbar: 2", []string{`unknown keys "bar", "foo"`}},
		{"state: {backend: pebble}", []string{`"state.backend"`}},
		{"parallelism.default: 0", []string{"parallelism.default", "bad value 0", ">= 1"}},
		{"parallelism.default: two", []string{"parallelism.default", `"two"`}},
		{"parallelism.default: 1.5", []string{"parallelism.default", "1.5"}},
		{"state.checkpoints.num-retained: -1", []string{"state.checkpoints.num-retained", "-1"}},
		{"execution.checkpointing.interval: 10 parsecs", []string{"execution.checkpointing.interval", `"10 parsecs"`, "duration"}},
		{"execution.checkpointing.interval: -5s", []string{"execution.checkpointing.interval", `"-5s"`, ">= 0"}},
		{"execution.checkpointing.timeout: 0", []string{"execution.checkpointing.timeout", "positive"}},
		{"state.savepoints.dir: 42", []string{"state.savepoints.dir", "42", "string"}},
		{"state.savepoints.dir:", []string{"state.savepoints.dir", "(empty)"}},
		{"state.savepoints.dir: [a, b]", []string{"state.savepoints.dir", "string"}},
		{"execution.savepoint.ignore-unclaimed-state: maybe", []string{"ignore-unclaimed-state", `"maybe"`, "true or false"}},
		{"state.restore.copy-files: 3", []string{"state.restore.copy-files", "3", "true or false"}},
		{"execution.savepoint-restore-mode: legacy", []string{"restore-mode", `"legacy"`, "claim or no-claim"}},
		{"rest.address: localhost", []string{"rest.address", `"localhost"`, "host:port"}},
		{"rest.address: 127.0.0.1:99999", []string{"rest.address", "port"}},
		{"state: [1, 2\n", []string{"yaml"}},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil {
			t.Errorf("ParseConfig(%q) = nil error", tc.yaml)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseConfig(%q): error spans lines: %q", tc.yaml, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseConfig(%q) = %q, want it to mention %q", tc.yaml, err, w)
			}
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte("state.savepoints.dir: /sp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil || c.SavepointDir != "/sp" {
		t.Fatalf("LoadConfig = %+v, %v", c, err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := LoadConfig(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("LoadConfig(missing) = %v, want an error naming the file", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("a:\n  - b\n c: d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(bad); err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), bad) {
		t.Fatalf("LoadConfig(bad YAML) = %q, want one line naming the file", err)
	}
}

// TestOptions checks what the configuration and the flags do to an
// Environment, and that flags override the file.
func TestOptions(t *testing.T) {
	cfg := &Config{SavepointDir: "/sp", CheckpointDir: "/cp", RetainedCheckpoints: 3, CheckpointInterval: time.Second,
		CheckpointTimeout: time.Minute, Parallelism: 4, SavepointPath: "/from-config", IgnoreUnclaimedState: true, RestoreCopyFiles: true}

	e := NewEnvironment(cfg.Option())
	if len(e.errs) > 0 {
		t.Fatal(e.errs)
	}
	if !e.copyFiles {
		t.Fatal("state.restore.copy-files: the environment maps files")
	}
	wantCP := checkpointConfig{savepointDir: "/sp", checkpointDir: "/cp", interval: time.Second, retain: 3, timeout: time.Minute}
	if e.cp.savepointDir != wantCP.savepointDir || e.cp.checkpointDir != wantCP.checkpointDir || e.cp.interval != wantCP.interval ||
		e.cp.retain != wantCP.retain || e.cp.timeout != wantCP.timeout || e.parallelism != 4 {
		t.Fatalf("config applied: cp %+v, parallelism %d", e.cp, e.parallelism)
	}
	if e.restore == nil || e.restore.path != "/from-config" || !e.restore.allowNonRestored || e.restore.claim {
		t.Fatalf("config restore: %+v", e.restore)
	}

	jf := &JobFlags{Config: cfg, Parallelism: 2, FromSavepoint: "/from-flag", RestoreMode: Claim}
	e = NewEnvironment(jf.Option())
	if e.parallelism != 2 || e.cp.savepointDir != "/sp" {
		t.Fatalf("flags over config: parallelism %d, savepoint dir %q", e.parallelism, e.cp.savepointDir)
	}
	if e.restore == nil || e.restore.path != "/from-flag" || !e.restore.allowNonRestored || !e.restore.claim {
		t.Fatalf("flags over config: restore %+v", e.restore)
	}

	jf = &JobFlags{AllowNonRestoredState: true}
	e = NewEnvironment(jf.Option())
	if e.restore != nil || e.parallelism != 1 {
		t.Fatalf("no -s: restore %+v, parallelism %d", e.restore, e.parallelism)
	}
	jf = &JobFlags{FromSavepoint: "/x"}
	e = NewEnvironment(jf.Option())
	if e.restore == nil || e.restore.allowNonRestored || e.restore.claim {
		t.Fatalf("-s alone: restore %+v", e.restore)
	}
	jf = &JobFlags{FromSavepoint: "/x", RestoreMode: "sometimes"}
	e = NewEnvironment(jf.Option())
	if err := e.prepare(); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Fatalf("bad RestoreMode field: %v", err)
	}
}

// TestRegisterConfigFlag checks that --config loads the file at parse time
// and reports a bad file as a bad flag value, in one line.
func TestRegisterConfigFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("parallelism.default: 3\nstate.savepoints.dir: /sp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("parallelism.default: 3\nstate.savepoint.dir: /sp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var jf JobFlags
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jf.Register(fs)
	if err := fs.Parse([]string{"-p", "5", "--config", good}); err != nil {
		t.Fatal(err)
	}
	if jf.ConfigFile != good || jf.Config == nil || jf.Config.Parallelism != 3 || jf.Parallelism != 5 {
		t.Fatalf("after parse: %+v", jf)
	}
	if e := NewEnvironment(jf.Option()); e.parallelism != 5 || e.cp.savepointDir != "/sp" {
		t.Fatalf("-p 5 over parallelism.default 3: %d; savepoint dir %q", e.parallelism, e.cp.savepointDir)
	}
	var jf2 JobFlags
	fs = flag.NewFlagSet("job", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jf2.Register(fs)
	err := fs.Parse([]string{"--config=" + bad})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad config: %q, want a one-line error", err)
	}
	for _, w := range []string{"-config", bad, `unknown key "state.savepoint.dir"`, "state.savepoints.dir"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("bad config: %q, want it to mention %q", err, w)
		}
	}
}
