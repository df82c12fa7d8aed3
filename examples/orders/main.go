// Command orders runs the seed article's job: orders arriving up to 2 s out
// of order, counted per user in 10 s event-time tumbling windows.
//
//	go run ./examples/orders -orders 10000 -p 2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

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
	n := fs.Int64("orders", 10_000, "number of orders (0 = unbounded)")
	par := fs.Int("p", 1, "parallelism")
	rate := fs.Int64("rate", 0, "wall-clock limit in orders per second (0 = unlimited)")
	out := fs.String("out", "", "write results as JSON lines to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 0 || *par < 1 || *rate < 0 {
		return fmt.Errorf("need -orders >= 0, -p >= 1, -rate >= 0")
	}
	cfg := orders.DefaultConfig()
	cfg.Orders, cfg.Rate = *n, *rate
	env := weir.NewEnvironment(weir.WithParallelism(*par))
	counts, err := orders.Build(env, cfg)
	if err != nil {
		return err
	}
	if *out != "" {
		weir.To(counts, file.JSONLines[orders.UserCount](*out)).UID("orders-out").Name("orders-out")
	} else {
		weir.To(counts, stdout.Sink[orders.UserCount]()).UID("orders-out").Name("orders-out")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return env.Execute(ctx, "orders")
}
