// Command weir is the operator's tool for weir jobs, modelled on Flink's
// bin/flink:
//
//	weir run [-s PATH] [-n] [-p N] [--restore-mode M] [-d] JOB_BINARY [ARGS]
//	weir list
//	weir savepoint JOB_ID [DIR]
//	weir savepoint --dispose PATH
//	weir stop [--savepoint-path DIR] [--drain] JOB_ID
//	weir cancel JOB_ID
//	weir inspect [--json] [--verify] PATH
//	weir bench
//
// Running jobs are found by ID through the job registry in $WEIR_HOME/jobs
// (default ~/.weir/jobs) and driven through the control API each job
// serves; see docs/operations.md. Commands that write a savepoint print its
// path as the last line of standard output. Every command that fails exits
// non-zero with a one-line reason on standard error; weir run without -d
// exits with the job's status.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/weirstream/weir/internal/control"
)

func main() {
	err := newRoot(&app{}).Execute()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(os.Stderr, "weir:", oneLine(err))
	os.Exit(code)
}

// exitError makes the command exit with a given status (weir run forwards
// the job's).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// oneLine flattens a multi-line error message into one line.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

// app holds what the commands share; tests set its fields.
type app struct {
	// home is the weir home directory ("" = $WEIR_HOME or ~/.weir).
	home string
	// http is the client of control servers (nil = one with a short
	// connect timeout).
	http *http.Client
	// registerTimeout bounds how long weir run -d waits for the job to
	// register (0 = 60 s).
	registerTimeout time.Duration
	// timeout bounds each request to a job (--timeout).
	timeout time.Duration
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "weir",
		Short: "weir runs and manages stateful stream-processing jobs",
		Long: `weir runs and manages weir jobs: it starts job binaries, lists the running ones,
takes savepoints, stops and cancels jobs, inspects and disposes of savepoints, and checks
whether a job would restore from one.
Jobs are found by ID through the registry in $WEIR_HOME/jobs (default ~/.weir/jobs).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%v; see %s --help", err, c.CommandPath())
	})
	root.PersistentFlags().DurationVar(&a.timeout, "timeout", 10*time.Minute, "how long to wait for a job's answer (a savepoint of large state takes a while)")
	root.AddCommand(a.newRun(), a.newCheck(), a.newList(), a.newSavepoint(), a.newStop(), a.newCancel(), newInspect(), newBench())
	return root
}

// wantArgs accepts between min and max arguments (max < 0: any number
// from min), saying what is wanted otherwise: usage is the command line
// with its arguments, as Use writes it.
func wantArgs(min, max int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		return fmt.Errorf("usage: weir %s (got %d arguments); see %s --help", usage, len(args), cmd.CommandPath())
	}
}

func (a *app) homeDir() (string, error) {
	if a.home != "" {
		return a.home, nil
	}
	return control.DefaultHome()
}

func (a *app) registry() (*control.Registry, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	return control.NewRegistry(home), nil
}

func (a *app) httpClient() *http.Client {
	if a.http != nil {
		return a.http
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// requestContext bounds one request to a job by --timeout.
func (a *app) requestContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if a.timeout > 0 {
		return context.WithTimeout(ctx, a.timeout)
	}
	return context.WithCancel(ctx)
}
