package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/keyspace"
)

// countSource emits n int64 records (0..n-1 interleaved across subtasks)
// in polls of 1024, then the final watermark.
type countSource struct {
	out  Output[int64]
	v    int64 // the record being emitted; a field, so &v does not escape per record
	next int64
	step int64
	n    int64
}

func (s *countSource) Poll() (time.Duration, bool, error) {
	for i := 0; i < 1024; i++ {
		if s.next >= s.n {
			s.out.Watermark(MaxWatermark)
			return 0, true, nil
		}
		s.v = s.next
		s.out.Collect(s.v, &s.v)
		s.next += s.step
	}
	s.out.Watermark(s.next)
	return 0, false, nil
}

type countSink struct {
	n   int64
	sum *atomic.Int64
}

func (s *countSink) Collect(int64, *int64) { s.n++ }
func (s *countSink) Watermark(int64)       {}

// exchangeJob builds source(p) -part-> sink(p).
func exchangeJob(n int64, part Partition, sum *atomic.Int64) []*Node {
	src := &Node{Index: 0, Name: "src", Kind: "source", Out: TypeOf[int64]()}
	src.Make = func(ctx *Context, out any) (*Instance, error) {
		return &Instance{Source: &countSource{out: out.(Output[int64]), next: int64(ctx.Subtask()), step: int64(ctx.Parallelism()), n: n}}, nil
	}
	sink := &Node{Index: 1, Name: "sink", Kind: "sink"}
	sink.Make = func(ctx *Context, _ any) (*Instance, error) {
		s := &countSink{sum: sum}
		return &Instance{Inputs: [2]any{s}, Finish: func() { sum.Add(s.n) }}, nil
	}
	var kh any
	if part == PartitionHash {
		kh = func(v int64) uint64 { return keyspace.HashUint64(uint64(v)) }
	}
	Connect(src, sink, 0, part, kh)
	return []*Node{src, sink}
}

// BenchmarkExchange measures records moving between tasks (no chaining) at
// parallelism 2: per record cost of batching, channel transfer and
// delivery.
func BenchmarkExchange(b *testing.B) {
	const n = 1 << 20
	for _, part := range []Partition{PartitionForward, PartitionHash, PartitionRebalance} {
		b.Run(part.String(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var sum atomic.Int64
				nodes := exchangeJob(n, part, &sum)
				nodes[1].ChainingDisabled = true
				if err := Run(context.Background(), nodes, Options{Parallelism: 2}); err != nil {
					b.Fatal(err)
				}
				if sum.Load() != n {
					b.Fatalf("sink saw %d records, want %d", sum.Load(), n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestExchangeDeliversEveryRecord(t *testing.T) {
	for _, part := range []Partition{PartitionForward, PartitionHash, PartitionRebalance} {
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprint(part, p), func(t *testing.T) {
				var sum atomic.Int64
				nodes := exchangeJob(100_000, part, &sum)
				nodes[1].ChainingDisabled = true
				if err := Run(context.Background(), nodes, Options{Parallelism: p}); err != nil {
					t.Fatal(err)
				}
				if sum.Load() != 100_000 {
					t.Fatalf("sink saw %d records", sum.Load())
				}
			})
		}
	}
}
