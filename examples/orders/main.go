// Command orders runs the seed article's job: orders arriving up to 2 s out
// of order, counted per user in 10 s event-time tumbling windows.
//
//	go run ./examples/orders -orders 10000 -p 2
//
// Besides its own flags it takes weir's standard job flags (-s, -n, -p,
// --restore-mode, --config, --plan) and serves the control API while it
// runs, so the weir command can take savepoints of it, stop it and resume
// it:
//
//	go build -o orders ./examples/orders
//	weir run -d ./orders -orders 0 -rate 100 -out run1.jsonl
//	weir stop --savepoint-path /tmp/savepoints <job id>
//	weir run -s /tmp/savepoints/savepoint-... -p 3 ./orders -orders 0 -rate 100 -out run2.jsonl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/stdout"
	"github.com/weirstream/weir/examples/orders/orders"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	var jf weir.JobFlags
	jf.Register(fs) // -s, -n, -p (parallelism), --restore-mode, --config, --plan
	n := fs.Int64("orders", 10_000, "number of orders (0 = unbounded)")
	rate := fs.Int64("rate", 0, "wall-clock limit in orders per second (0 = unlimited)")
	out := fs.String("out", "", "write results as JSON lines to this file instead of standard output")
	fs.SetOutput(io.Discard) // a bad flag is one line (main prints it); -h prints the usage
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *n < 0:
		return fmt.Errorf("-orders must be >= 0, got %d", *n)
	case *rate < 0:
		return fmt.Errorf("-rate must be >= 0, got %d", *rate)
	}
	cfg := orders.DefaultConfig()
	cfg.Orders, cfg.Rate = *n, *rate
	env := weir.NewEnvironment(jf.Option())
	counts, err := orders.Build(env, cfg)
	if err != nil {
		return err
	}
	if *out != "" {
		weir.To(counts, file.JSONLines[orders.UserCount](*out)).UID("orders-out").Name("orders-out")
	} else {
		weir.To(counts, stdout.Sink[orders.UserCount]()).UID("orders-out").Name("orders-out")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return jf.Run(ctx, env, "orders")
}
