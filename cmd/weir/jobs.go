package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/weirstream/weir/internal/control"
)

// target is a running job the command talks to.
type target struct {
	a     *app
	reg   *control.Registry
	entry control.Entry
	c     *control.Client
}

// findJob resolves a job ID through the registry.
func (a *app) findJob(id string) (*target, error) {
	if !control.ValidJobID(id) {
		return nil, fmt.Errorf("%q is not a job ID (32 lowercase hex digits; see weir list)", id)
	}
	reg, err := a.registry()
	if err != nil {
		return nil, err
	}
	e, err := reg.Lookup(id)
	if err != nil {
		if errors.Is(err, control.ErrUnknownJob) {
			return nil, fmt.Errorf("%v (see weir list)", strings.TrimSuffix(err.Error(), ": "+control.ErrUnknownJob.Error()))
		}
		return nil, err
	}
	return &target{a: a, reg: reg, entry: e, c: control.NewClient(e.Address, a.httpClient())}, nil
}

// fail turns an error of a request to the job into the command's error. A
// job whose address refuses connections has ended: its registry entry is
// removed.
func (t *target) fail(what string, err error) error {
	id := t.entry.ID
	var ae *control.APIError
	switch {
	case control.Unreachable(err):
		_ = t.reg.Remove(id)
		return fmt.Errorf("job %s is not reachable at %s (connection refused): it has probably ended; removed its registry entry", id, t.entry.Address)
	case errors.As(err, &ae) && errors.Is(err, control.ErrUnknownJob):
		return fmt.Errorf("the process at %s does not serve job %s (%s)", t.entry.Address, id, ae.Error())
	case errors.As(err, &ae):
		return fmt.Errorf("%s of job %s failed: %s", what, id, strings.TrimPrefix(ae.Error(), "weir: "))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s of job %s: no answer within %v (raise --timeout; the job may still complete it)", what, id, t.a.timeout)
	}
	return fmt.Errorf("%s of job %s: %w", what, id, err)
}

// absDir makes a directory given on the command line absolute: the job
// process has a working directory of its own.
func absDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	return filepath.Abs(dir)
}

func (a *app) newList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the running jobs: ID, state, start time, name",
		Long: `list prints one line per running job of the registry: its ID, state, start time and name.
Entries of jobs whose process has died or whose control address refuses connections are
removed.`,
		Args: wantArgs(0, 0, "list"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := a.registry()
			if err != nil {
				return err
			}
			es, err := reg.List()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			n := 0
			for _, e := range es {
				t := &target{a: a, reg: reg, entry: e, c: control.NewClient(e.Address, a.httpClient())}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				d, err := t.c.Job(ctx, e.ID)
				cancel()
				state := string(d.State)
				switch {
				case control.Unreachable(err):
					_ = reg.Remove(e.ID)
					continue
				case err != nil:
					state = "UNKNOWN"
					fmt.Fprintf(cmd.ErrOrStderr(), "weir: job %s at %s: %s\n", e.ID, e.Address, oneLine(err))
				case d.State == control.Finished || d.State == control.Canceled || d.State == control.Failed:
					continue // ending: its process is about to remove its entry
				}
				fmt.Fprintf(out, "%s  %-10s  %s  %s\n", e.ID, state, e.Started.Local().Format("2006-01-02 15:04:05"), e.Name)
				n++
			}
			if n == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No running jobs.")
			}
			return nil
		},
	}
}

func (a *app) newSavepoint() *cobra.Command {
	var dispose string
	var cancelJob bool
	cmd := &cobra.Command{
		Use:   "savepoint JOB_ID [DIR] | savepoint --dispose PATH",
		Short: "Take a savepoint of a running job, or dispose of a savepoint",
		Long: `savepoint takes a savepoint of a running job into DIR (or the job's configured
state.savepoints.dir) and prints its path as the last line. The job keeps running.

With --dispose PATH it deletes the savepoint at PATH (its directory or _metadata file)
after checking that it is one: a directory with a valid _metadata of a savepoint
holding nothing but the savepoint's own files. Anything else is refused and left alone.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if dispose != "" {
				if len(args) > 0 {
					return fmt.Errorf("savepoint --dispose takes no other arguments, got %q", args)
				}
				return nil
			}
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("usage: weir savepoint JOB_ID [DIR], or weir savepoint --dispose PATH (got %d arguments); see weir savepoint --help", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if dispose != "" {
				dir, err := disposeSavepoint(dispose)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Disposed of savepoint %s.\n", dir)
				return nil
			}
			t, err := a.findJob(args[0])
			if err != nil {
				return err
			}
			var dir string
			if len(args) == 2 {
				if dir, err = absDir(args[1]); err != nil {
					return err
				}
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			path, err := t.c.TriggerSavepoint(ctx, t.entry.ID, dir, cancelJob)
			if err != nil {
				return t.fail("savepoint", err)
			}
			out := cmd.OutOrStdout()
			if cancelJob {
				fmt.Fprintf(out, "Savepoint of job %s completed; the job was cancelled.\n", t.entry.ID)
			} else {
				fmt.Fprintf(out, "Savepoint of job %s completed.\n", t.entry.ID)
			}
			fmt.Fprintln(out, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dispose, "dispose", "", "delete the savepoint at `PATH` (after checking that it is one)")
	cmd.Flags().BoolVar(&cancelJob, "cancel", false, "cancel the job after the savepoint (prefer weir stop)")
	return cmd
}

func (a *app) newStop() *cobra.Command {
	var dir string
	var drain bool
	cmd := &cobra.Command{
		Use:   "stop [--savepoint-path DIR] [--drain] JOB_ID",
		Short: "Stop a job with a savepoint",
		Long: `stop takes a savepoint of a running job and stops it at that savepoint: its sources stop
at the savepoint's barrier and nothing is processed after it. The savepoint goes into
--savepoint-path, or the job's configured state.savepoints.dir; its path is printed as
the last line. With --drain the sources first emit the final watermark, so every window
and event-time timer fires before the job stops (use it when the job will not be resumed).
The job ends only once the savepoint is complete; if it fails, stop exits non-zero and the
job goes on (after --drain, whose final watermark is out, the job fails instead).`,
		Args: wantArgs(1, 1, "stop [--savepoint-path DIR] [--drain] JOB_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.findJob(args[0])
			if err != nil {
				return err
			}
			abs, err := absDir(dir)
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			path, err := t.c.Stop(ctx, t.entry.ID, abs, drain)
			if err != nil {
				return t.fail("stop with savepoint", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Job %s stopped with a savepoint.\n", t.entry.ID)
			fmt.Fprintln(out, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "savepoint-path", "", "write the savepoint under `DIR` (default: the job's state.savepoints.dir)")
	cmd.Flags().BoolVar(&drain, "drain", false, "emit the final watermark before stopping, so all windows fire")
	return cmd
}

func (a *app) newCancel() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Cancel a job without a savepoint",
		Args:  wantArgs(1, 1, "cancel JOB_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.findJob(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			d, err := t.c.Cancel(ctx, t.entry.ID)
			if err != nil {
				return t.fail("cancel", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Cancelled job %s (%s).\n", t.entry.ID, d.State)
			return nil
		},
	}
}
