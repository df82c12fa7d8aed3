package queries

import (
	"context"
	"fmt"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/nexmark"
)

// BenchmarkQuery runs each query over 1M events per iteration and reports
// events/s; `weir bench` reports the same per CPU-second.
func BenchmarkQuery(b *testing.B) {
	const events = 1_000_000
	for _, q := range []string{"q0", "q5", "q8", "q11"} {
		for _, p := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/p=%d", q, p), func(b *testing.B) {
				build, err := Lookup(q)
				if err != nil {
					b.Fatal(err)
				}
				cfg := nexmark.DefaultSourceConfig()
				cfg.Events = events
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					env := weir.NewEnvironment(weir.WithParallelism(p))
					if err := build(env, cfg, Output{}); err != nil {
						b.Fatal(err)
					}
					if err := env.Execute(context.Background(), q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
