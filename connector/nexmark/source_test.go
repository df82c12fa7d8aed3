package nexmark

import (
	"slices"
	"testing"

	"github.com/weirstream/weir"
)

// TestEventTimeIsTimestamp pins what the source relies on when it stamps
// records with Timestamp(n) instead of reading DateTime.
func TestEventTimeIsTimestamp(t *testing.T) {
	g, err := NewGenerator(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	for n := int64(0); n < 20000; n++ {
		g.Event(n, &ev)
		if ev.DateTime() != g.Timestamp(n) {
			t.Fatalf("event %d: DateTime %d, Timestamp %d", n, ev.DateTime(), g.Timestamp(n))
		}
	}
}

// progressOutput records what a reader emits and the progress it reports.
type progressOutput[T any] struct {
	emitted  int
	maxEmit  int64
	progress []int64
}

func (o *progressOutput[T]) Emit(_ *T, ts int64) {
	o.emitted++
	o.maxEmit = max(o.maxEmit, ts)
}

func (o *progressOutput[T]) Progress(ts int64) { o.progress = append(o.progress, ts) }

// TestTypedSourceReportsProgress: a Persons reader whose split holds no
// person (odd event numbers at parallelism 2; persons are every 50th event)
// emits nothing but reports the timestamps it has read up to, rising to
// the timestamp of its last event, with and without a rate limit; a reader
// with persons reports progress at least as far as what it emitted.
func TestTypedSourceReportsProgress(t *testing.T) {
	for _, rate := range []int64{0, 1_000_000} {
		cfg := SourceConfig{Generator: DefaultConfig(), Events: 20_000, Rate: rate}
		src, err := Persons(cfg)
		if err != nil {
			t.Fatal(err)
		}
		splits, err := src.Splits(2)
		if err != nil {
			t.Fatal(err)
		}
		for i, sp := range splits {
			// A clock that moves 1 ms every 2,000 readings, half as fast as
			// a million events a second need (the reader reads the clock
			// once per event): a rate-limited reader keeps waiting.
			var calls int64
			waited := false
			r, err := src.NewReader(weir.SourceContext{Subtask: i, Parallelism: 2, Now: func() int64 { calls++; return 1000 + calls/2000 }})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.AddSplits([][]byte{sp}); err != nil {
				t.Fatal(err)
			}
			out := &progressOutput[Person]{}
			for range 100_000 {
				st, err := r.Read(out)
				if err != nil {
					t.Fatal(err)
				}
				if st.Done {
					break
				}
				waited = waited || st.Wait > 0
			}
			if rate > 0 && !waited {
				t.Fatalf("rate %d, subtask %d: the reader never waited for the rate", rate, i)
			}
			if len(out.progress) == 0 || !slices.IsSorted(out.progress) {
				t.Fatalf("rate %d, subtask %d: progress %v, want a rising sequence", rate, i, out.progress)
			}
			last := cfg.Events - 2 + int64(i) // the split's last event number
			if got, want := out.progress[len(out.progress)-1], src.Generator().Timestamp(last); got != want {
				t.Fatalf("rate %d, subtask %d: progress ends at %d, want %d (event %d)", rate, i, got, want, last)
			}
			switch i {
			case 0:
				if int64(out.emitted) != cfg.Events/50 || out.progress[len(out.progress)-1] < out.maxEmit {
					t.Fatalf("rate %d, subtask 0: %d persons emitted up to %d, progress to %d", rate, out.emitted, out.maxEmit, out.progress[len(out.progress)-1])
				}
			case 1:
				if out.emitted != 0 {
					t.Fatalf("rate %d, subtask 1 emitted %d persons from odd event numbers", rate, out.emitted)
				}
			}
		}
	}
}
