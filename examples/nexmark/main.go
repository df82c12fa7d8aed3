// Command nexmark runs one Nexmark benchmark query on weir's embedded
// runtime.
//
//	go run ./examples/nexmark -query q5 -events 1000000 -p 2
//
// Results are printed as JSON lines (or written to -out); a summary goes to
// standard error. Besides its own flags it takes weir's standard job flags
// (-s, -n, -p, --restore-mode, --config, --plan) and serves the control API
// while it runs, so an unbounded run can be stopped with a savepoint and
// resumed:
//
//	go build -o nexmark ./examples/nexmark
//	weir run -d ./nexmark -query q5 -events 0 -rate 10000 -out q5-1.jsonl
//	weir stop --savepoint-path /tmp/savepoints <job id>
//	weir run -s /tmp/savepoints/savepoint-... -p 4 ./nexmark -query q5 -events 0 -rate 10000 -out q5-2.jsonl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/examples/nexmark/queries"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "nexmark:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	var jf weir.JobFlags
	jf.Register(fs) // -s, -n, -p (parallelism), --restore-mode, --config, --plan
	query := fs.String("query", "q5", "query to run: q0, q1, q2, q3, q5, q7, q8 or q11")
	events := fs.Int64("events", 1_000_000, "number of events to generate (0 = unbounded)")
	rate := fs.Int64("rate", 0, "wall-clock limit in events per second (0 = unlimited)")
	out := fs.String("out", "", "write results as JSON lines to this file instead of standard output")
	quiet := fs.Bool("quiet", false, "discard results (count them only)")
	fs.SetOutput(io.Discard) // a bad flag is one line (main prints it); -h prints the usage
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *events < 0:
		return fmt.Errorf("-events must be >= 0, got %d", *events)
	case *rate < 0:
		return fmt.Errorf("-rate must be >= 0, got %d", *rate)
	}
	build, err := queries.Lookup(*query)
	if err != nil {
		return err
	}
	cfg := nexmark.DefaultSourceConfig()
	cfg.Events, cfg.Rate = *events, *rate

	env := weir.NewEnvironment(jf.Option())
	var results atomic.Int64
	o := queries.Output{JSONPath: *out, Stdout: *out == "" && !*quiet, Count: &results}
	if err := build(env, cfg, o); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err = jf.Run(ctx, env, "nexmark-"+*query)
	elapsed := time.Since(start)
	if jf.Plan || (err != nil && !(errors.Is(err, context.Canceled) && *events == 0)) {
		return err
	}
	if *events == 0 {
		fmt.Fprintf(os.Stderr, "nexmark %s: unbounded run ended, %d results, parallelism %d, %v\n",
			*query, results.Load(), env.Parallelism(), elapsed.Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(os.Stderr, "nexmark %s: %d events, %d results, parallelism %d, %v (%.0f events/s)\n",
		*query, *events, results.Load(), env.Parallelism(), elapsed.Round(time.Millisecond), float64(*events)/elapsed.Seconds())
	return nil
}
