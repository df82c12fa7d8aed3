package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/weirstream/weir/internal/bench"
)

func newBench() *cobra.Command {
	var (
		events  int64
		qs      string
		ps      string
		repeat  int
		outPath string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Nexmark queries in events per CPU-second",
		Long: `bench runs Nexmark queries on the embedded runtime and prints, for each query and
parallelism, events per CPU-second (user+system CPU time of the process) next to the
bare generator's rate measured in the same run. Each case runs --repeat times; the
fastest run is kept.`,
		Args: wantArgs(0, 0, "bench [flags]"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events <= 0 {
				return fmt.Errorf("--events must be positive, got %d", events)
			}
			pars, err := parseInts(ps)
			if err != nil {
				return fmt.Errorf("--parallelism: %w", err)
			}
			opts := bench.Options{Events: events, Queries: strings.Split(qs, ","), Parallelism: pars, Repeat: repeat}
			rs, err := bench.Run(opts, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			bench.Print(cmd.OutOrStdout(), rs)
			if outPath == "" {
				return nil
			}
			f, err := os.Create(outPath)
			if err != nil {
				return err
			}
			bench.Print(f, rs)
			return f.Close()
		},
	}
	cmd.Flags().Int64Var(&events, "events", 10_000_000, "events per run")
	cmd.Flags().StringVar(&qs, "queries", "q0,q5,q8,q11", "comma-separated queries")
	cmd.Flags().StringVar(&ps, "parallelism", "1,2", "comma-separated parallelism values")
	cmd.Flags().IntVar(&repeat, "repeat", 3, "runs per case (the fastest is kept)")
	cmd.Flags().StringVar(&outPath, "out", "", "also write the table to this file")
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
