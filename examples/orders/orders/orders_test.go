package orders

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
)

// reference counts orders per user and 10 s window in plain Go.
func reference(cfg Config) []UserCount {
	type k struct {
		user  string
		start int64
	}
	m := map[k]int64{}
	for n := int64(0); n < cfg.Orders; n++ {
		o := cfg.At(n)
		start := o.CreateTS - ((o.CreateTS%10000)+10000)%10000
		m[k{o.UserID, start}]++
	}
	out := make([]UserCount, 0, len(m))
	for key, c := range m {
		out = append(out, UserCount{User: key.user, Count: c, WindowStart: key.start, WindowEnd: key.start + 10000})
	}
	sortCounts(out)
	return out
}

func sortCounts(s []UserCount) {
	slices.SortFunc(s, func(a, b UserCount) int {
		if a.WindowStart != b.WindowStart {
			return int(a.WindowStart - b.WindowStart)
		}
		if a.User < b.User {
			return -1
		}
		if a.User > b.User {
			return 1
		}
		return 0
	})
}

func TestOrdersMatchReference(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Orders = 20_000
	want := reference(cfg)
	for _, p := range []int{1, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := weir.NewEnvironment(weir.WithParallelism(p))
			counts, err := Build(env, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sink := memory.NewSink[UserCount]()
			weir.To(counts, sink)
			if err := env.Execute(context.Background(), "orders"); err != nil {
				t.Fatal(err)
			}
			got := sink.Results()
			sortCounts(got)
			if !slices.Equal(got, want) {
				t.Fatalf("p=%d: %d results, want %d; first got %v want %v", p, len(got), len(want), head(got), head(want))
			}
		})
	}
}

func head(s []UserCount) []UserCount { return s[:min(len(s), 3)] }

func TestOrdersAreOutOfOrderWithinBound(t *testing.T) {
	cfg := DefaultConfig()
	maxTS := int64(-1 << 62)
	outOfOrder := 0
	for n := int64(0); n < 10000; n++ {
		o := cfg.At(n)
		if o.CreateTS < maxTS {
			outOfOrder++
			if maxTS-o.CreateTS >= cfg.MaxDelay.Milliseconds() {
				t.Fatalf("order %d is %d ms behind the newest order; bound is %v", n, maxTS-o.CreateTS, cfg.MaxDelay)
			}
		}
		maxTS = max(maxTS, o.CreateTS)
	}
	if outOfOrder < 1000 {
		t.Fatalf("only %d of 10000 orders arrive out of order", outOfOrder)
	}
	if a, b := cfg.At(77), cfg.At(77); a != b {
		t.Fatal("order 77 is not deterministic")
	}
}

func TestSplitDecodingRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0xff}, {1, 0, 0}, {5, 2, 0}, append(encodeSplit(split{0, 2, 1}), 0)} {
		if _, err := decodeSplit(b); err == nil {
			t.Fatalf("decodeSplit(%x) accepted", b)
		}
	}
}
