package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/control"
	"github.com/weirstream/weir/internal/snapshot/format"
)

// runOptions are weir run's flags: the standard job flags it passes on, and
// -d.
type runOptions struct {
	savepoint        string
	allowNonRestored bool
	parallelism      int
	restoreMode      string
	uidMap           []string
	detached         bool
}

func (a *app) newRun() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [-s PATH] [-n] [-p N] [--restore-mode M] [--uid-map OLD=NEW] [-d] JOB_BINARY [ARGS...]",
		Short: "Run a job binary, passing the standard job flags",
		Long: `run starts JOB_BINARY (a Go program built on weir) with the standard job flags given
here followed by ARGS, which are the job's own (flags after JOB_BINARY are not weir's).

Without -d it waits for the job and exits with its status; the job's output goes to this
terminal. With -d (detached) the job runs in the background, its output goes to a log
file under $WEIR_HOME/log, and run returns as soon as the job has registered, printing
the job's ID as the last line.`,
		Args: wantArgs(1, -1, "run [-s PATH] [-n] [-p N] [--restore-mode M] [--uid-map OLD=NEW] [-d] JOB_BINARY [ARGS...]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			jobArgs, err := o.jobFlags(cmd)
			if err != nil {
				return err
			}
			jobArgs = append(jobArgs, args[1:]...)
			if o.detached {
				return a.runDetached(cmd, args[0], jobArgs)
			}
			return a.runAttached(cmd, args[0], jobArgs)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after JOB_BINARY belong to the job
	f.StringVarP(&o.savepoint, "from-savepoint", "s", "", "start the job from the savepoint (or retained checkpoint) at `PATH`")
	f.BoolVarP(&o.allowNonRestored, "allow-non-restored-state", "n", false, "skip savepoint state that no operator of the job matches or declares")
	f.VarP(parallelismFlag{&o.parallelism}, "parallelism", "p", "the job's default parallelism `N`")
	f.StringVar(&o.restoreMode, "restore-mode", "", "restore `MODE`: no-claim (default) or claim")
	o.uidMapFlag(f)
	f.BoolVarP(&o.detached, "detached", "d", false, "run the job in the background; print its ID when it has registered")
	return cmd
}

// jobFlags checks the flags and returns them as the job's arguments.
func (o *runOptions) jobFlags(cmd *cobra.Command) ([]string, error) {
	var out []string
	if o.savepoint != "" {
		s, err := format.Open(o.savepoint)
		if err != nil {
			return nil, fmt.Errorf("--from-savepoint: %w", err)
		}
		out = append(out, "--from-savepoint="+s.Dir())
	}
	if o.allowNonRestored {
		out = append(out, "--allow-non-restored-state")
	}
	if cmd.Flags().Changed("parallelism") {
		out = append(out, "--parallelism="+strconv.Itoa(o.parallelism))
	}
	if len(o.uidMap) > 0 {
		var m map[string]string
		for _, v := range o.uidMap {
			var err error
			if m, err = weir.ParseUIDMap(v, m); err != nil {
				return nil, fmt.Errorf("--uid-map: %w", err)
			}
		}
		for _, old := range slices.Sorted(maps.Keys(m)) {
			out = append(out, "--uid-map="+old+"="+m[old])
		}
	}
	if o.restoreMode != "" {
		switch m := strings.ReplaceAll(strings.ToLower(o.restoreMode), "_", "-"); m {
		case "claim", "no-claim":
			out = append(out, "--restore-mode="+m)
		default:
			return nil, fmt.Errorf("--restore-mode must be claim or no-claim, got %q", o.restoreMode)
		}
	}
	return out, nil
}

// uidMapFlag defines --uid-map on f.
func (o *runOptions) uidMapFlag(f *pflag.FlagSet) {
	f.StringArrayVar(&o.uidMap, "uid-map", nil, "restore the state of the savepoint's operator with UID (or ID) OLD into the job's operator with UID NEW; `OLD=NEW` pairs, comma-separated or repeated")
}

// parallelismFlag is -p: an integer >= 1.
type parallelismFlag struct{ p *int }

func (f parallelismFlag) String() string {
	if f.p == nil || *f.p == 0 {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f parallelismFlag) Set(s string) error {
	n, err := weir.ParseParallelism(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

func (parallelismFlag) Type() string { return "int" }

// startError explains why the job binary bin could not be started.
func startError(bin string, err error) error {
	hint := "give the path of a job binary built with go build"
	if errors.Is(err, exec.ErrNotFound) && !strings.ContainsRune(bin, filepath.Separator) {
		if _, serr := os.Stat(bin); serr == nil {
			hint = fmt.Sprintf("to run the binary in this directory, write ./%s", bin)
		}
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "fork/exec BIN: " would repeat the name
	}
	return fmt.Errorf("cannot start the job binary %s: %v; %s", bin, err, hint)
}

// childEnv is the job's environment: ours, with WEIR_HOME pointing at the
// registry this command reads.
func (a *app) childEnv() ([]string, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	return append(os.Environ(), control.HomeEnv+"="+home), nil
}

// runAttached runs the job in the foreground and forwards its exit status;
// interrupt and terminate signals are passed on to it.
func (a *app) runAttached(cmd *cobra.Command, bin string, args []string) error {
	env, err := a.childEnv()
	if err != nil {
		return err
	}
	c := exec.Command(bin, args...)
	c.Env = env
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := c.Start(); err != nil {
		return startError(bin, err)
	}
	stop := forwardSignals(c.Process)
	err = c.Wait()
	stop()
	return exitStatus(err)
}

// exitStatus turns a child's Wait error into the command's.
func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	code := ee.ExitCode()
	if code < 0 {
		if sig, ok := signalOf(ee); ok {
			return &exitError{code: 128 + sig, msg: fmt.Sprintf("the job was killed by signal %d", sig)}
		}
		code = 1
	}
	return &exitError{code: code, msg: fmt.Sprintf("the job exited with status %d", code)}
}

var jobIDInLog = regexp.MustCompile(`\bid=([0-9a-f]{32})\b`)

// runDetached starts the job in its own session with its output in a log
// file, and returns once it has registered, printing its ID last.
func (a *app) runDetached(cmd *cobra.Command, bin string, args []string) error {
	env, err := a.childEnv()
	if err != nil {
		return err
	}
	home, _ := a.homeDir()
	logDir := filepath.Join(home, "log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logf, err := os.CreateTemp(logDir, filepath.Base(bin)+"-"+time.Now().Format("20060102-150405")+"-*.log")
	if err != nil {
		return err
	}
	logPath := logf.Name()
	c := exec.Command(bin, args...)
	c.Env = env
	c.Stdout, c.Stderr = logf, logf // an *os.File: the job writes it directly
	c.SysProcAttr = detachedAttr()
	err = c.Start()
	_ = logf.Close()
	if err != nil {
		_ = os.Remove(logPath)
		return startError(bin, err)
	}
	pid := c.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }() // reaps the job if it ends while this process lives

	reg := control.NewRegistry(home)
	timeout := a.registerTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		es, _ := reg.List()
		for _, e := range es {
			if e.PID == pid {
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "Job %q is running detached: pid %d, control http://%s, output in %s\n", e.Name, pid, e.Address, logPath)
				fmt.Fprintln(out, e.ID)
				return nil
			}
		}
		select {
		case err := <-exited:
			data, _ := os.ReadFile(logPath)
			if m := jobIDInLog.FindSubmatch(data); err == nil && m != nil {
				// It registered and finished between two looks.
				fmt.Fprintf(cmd.OutOrStdout(), "Job finished already; output in %s\n", logPath)
				fmt.Fprintln(cmd.OutOrStdout(), string(m[1]))
				return nil
			}
			if err == nil {
				// It succeeded without running a job (--plan, -h): what it
				// printed is the answer.
				if _, werr := cmd.OutOrStdout().Write(data); werr != nil {
					return werr
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "weir: the job exited with status 0 without starting a job; its output is above (and in %s)\n", logPath)
				return nil
			}
			status := "status 0"
			if err := exitStatus(err); err != nil {
				status = strings.TrimPrefix(err.Error(), "the job exited with ")
			}
			return fmt.Errorf("the job exited (%s) before it registered: %s (output in %s)", status, lastLine(data), logPath)
		case <-deadline.C:
			return fmt.Errorf("the job (pid %d) did not register within %v; it may still be starting (output in %s)", pid, timeout, logPath)
		case <-tick.C:
		}
	}
}

// lastLine returns the last non-empty line of b, or "no output".
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if l := bytes.TrimSpace(lines[len(lines)-1]); len(l) > 0 {
		return string(l)
	}
	return "no output"
}
