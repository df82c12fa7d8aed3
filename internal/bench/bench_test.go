package bench

import (
	"sync"
	"testing"

	"github.com/weirstream/weir/connector/nexmark"
)

// BenchmarkGeneratorParallel runs the bare generator on p goroutines, each
// taking every p-th event as a source subtask does. Comparing CPU time at
// p=1 and p=2 shows how much per-event cost rises when both cores generate
// at once, independently of the engine.
func BenchmarkGeneratorParallel(b *testing.B) {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	const events = 2_000_000
	for _, p := range []int{1, 2} {
		b.Run(map[int]string{1: "p=1", 2: "p=2"}[p], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for s := 0; s < p; s++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var bid nexmark.Bid
						for n := int64(s); n < events; n += int64(p) {
							if g.TypeOf(n) == nexmark.EventBid {
								g.Bid(n, &bid)
							}
						}
					}()
				}
				wg.Wait()
			}
			c := cpuTime()
			_ = c
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func TestRunSmall(t *testing.T) {
	rs, err := Run(Options{Events: 100_000, Queries: []string{"q0", "q5"}, Parallelism: []int{1, 2}, Repeat: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("%d results, want 5 (generator + 2 queries x 2)", len(rs))
	}
	for _, r := range rs {
		if r.Events != 100_000 || r.CPU <= 0 || r.Results == 0 {
			t.Fatalf("implausible result %+v", r)
		}
	}
}
