package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"github.com/weirstream/weir"
)

func (a *app) newCheck() *cobra.Command {
	var o runOptions
	var asJSON bool
	usage := "check -s PATH [-n] [-p N] [--uid-map OLD=NEW] [--json] JOB_BINARY [ARGS...]"
	cmd := &cobra.Command{
		Use:   usage,
		Short: "Tell whether a job would restore from a savepoint, without running it",
		Long: `check tells whether JOB_BINARY, run with ARGS, would restore from the savepoint (or
retained checkpoint) at PATH, and how, without running it: which operators match, which
are new (they start empty) and which the job no longer has; for each state, whether it
is restored, new, dropped (the job no longer declares it), incompatible (the job's
serializer cannot read it) or unreadable (a data file it needs is missing, truncated or
not a data file; weir inspect --verify also reads every block). The job binary opens
each operator once, as a restore does, to learn the states it declares; nothing is
restored, processed or written, and the savepoint is not touched. With -n, state that would be dropped does not fail the check.
It exits 0 if the job would restore, 1 if not (naming the first problem).`,
		Args: wantArgs(1, -1, usage),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.savepoint == "" {
				return fmt.Errorf("give the savepoint to check against: usage: weir %s", usage)
			}
			jobArgs, err := o.jobFlags(cmd)
			if err != nil {
				return err
			}
			jobArgs = append(append([]string{"--check"}, jobArgs...), args[1:]...)
			env, err := a.childEnv()
			if err != nil {
				return err
			}
			var stdout, stderr bytes.Buffer
			c := exec.Command(args[0], jobArgs...)
			c.Env = env
			c.Stdout, c.Stderr = &stdout, &stderr
			runErr := c.Run()
			var r weir.CheckReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.Snapshot == "" {
				var ee *exec.ExitError
				switch {
				case runErr != nil && !errors.As(runErr, &ee):
					return startError(args[0], runErr)
				case stderr.Len() > 0:
					return fmt.Errorf("%s cannot check: %s", args[0], lastLine(stderr.Bytes()))
				}
				return fmt.Errorf("%s did not answer --check with a report (is it a weir job binary that runs JobFlags.Run?)", args[0])
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if _, err := out.Write(stdout.Bytes()); err != nil {
					return err
				}
			} else {
				printCheck(out, &r)
			}
			if !r.Restores {
				return &exitError{code: 1, msg: r.Verdict()}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after JOB_BINARY belong to the job
	f.StringVarP(&o.savepoint, "from-savepoint", "s", "", "the savepoint (or retained checkpoint) at `PATH` to check against")
	f.BoolVarP(&o.allowNonRestored, "allow-non-restored-state", "n", false, "state no operator matches or declares would be dropped, not fail the restore")
	f.VarP(parallelismFlag{&o.parallelism}, "parallelism", "p", "the job's default parallelism `N`")
	o.uidMapFlag(f)
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// printCheck writes the report r for people.
func printCheck(w io.Writer, r *weir.CheckReport) {
	verdict := "yes"
	switch {
	case !r.Restores:
		verdict = "no (1 problem)"
		if len(r.Problems) != 1 {
			verdict = fmt.Sprintf("no (%d problems)", len(r.Problems))
		}
	case r.AllowNonRestoredState:
		verdict = "yes, dropping the state marked dropped (--allow-non-restored-state)"
	}
	fmt.Fprintf(w, "savepoint %s\n  restores: %s\n", r.Snapshot, verdict)
	for _, op := range r.Operators {
		uid := op.UID
		if uid == "" {
			uid = "(none)"
		}
		par := ""
		switch op.Status {
		case weir.CheckMatched:
			par = fmt.Sprintf("parallelism %d -> %d", op.SnapshotParallelism, op.Parallelism)
			if op.RestoresFrom != "" {
				from := op.RestoresFromUID
				if from == "" {
					from = "(none)"
				}
				par += fmt.Sprintf(", the state of operator %s uid %s by --uid-map", op.RestoresFrom, from)
			}
		case weir.CheckNew:
			par = fmt.Sprintf("parallelism %d, not in the savepoint: starts empty", op.Parallelism)
			if len(op.States) == 0 {
				par = fmt.Sprintf("parallelism %d, no state", op.Parallelism)
			}
		case weir.CheckDropped:
			par = fmt.Sprintf("parallelism %d, not in the job", op.SnapshotParallelism)
		}
		fmt.Fprintf(w, "\noperator %s  uid %q  name %q  %s  (%s)\n", op.ID, uid, op.Name, op.Status, par)
		for _, s := range op.States {
			line := fmt.Sprintf("  %s %q  %s", s.Kind, s.Name, s.Status)
			if s.Reason != "" {
				line += ": " + s.Reason
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", strings.TrimSpace(p))
		}
	}
}
