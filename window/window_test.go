package window

import (
	"slices"
	"testing"
	"time"
)

func TestAssign(t *testing.T) {
	cases := []struct {
		name string
		a    Assigner
		ts   int64
		want []TimeWindow
	}{
		{"tumbling", TumblingEventTime(10 * time.Second), 12345, []TimeWindow{{10000, 20000}}},
		{"tumbling boundary", TumblingEventTime(10 * time.Second), 20000, []TimeWindow{{20000, 30000}}},
		{"tumbling negative", TumblingEventTime(10 * time.Second), -1, []TimeWindow{{-10000, 0}}},
		{"tumbling offset", TumblingEventTime(10 * time.Second).WithOffset(3 * time.Second), 12345, []TimeWindow{{3000, 13000}}},
		{"sliding", SlidingEventTime(10*time.Second, 2*time.Second), 12345, []TimeWindow{
			{12000, 22000}, {10000, 20000}, {8000, 18000}, {6000, 16000}, {4000, 14000}}},
		{"sliding boundary", SlidingEventTime(10*time.Second, 5*time.Second), 10000, []TimeWindow{{10000, 20000}, {5000, 15000}}},
		{"session", EventTimeSession(10 * time.Second), 7, []TimeWindow{{7, 10007}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.a.Validate(); err != nil {
				t.Fatal(err)
			}
			got := c.a.Assign(nil, c.ts)
			if !slices.Equal(got, c.want) {
				t.Fatalf("Assign(%d) = %v, want %v", c.ts, got, c.want)
			}
			for _, w := range got {
				if c.ts < w.Start || c.ts > w.MaxTimestamp() {
					t.Fatalf("%d not inside %v", c.ts, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, a := range []Assigner{{}, TumblingEventTime(0), SlidingEventTime(time.Second, 0), EventTimeSession(0),
		TumblingEventTime(time.Second).WithOffset(2 * time.Second)} {
		if a.Validate() == nil {
			t.Fatalf("%v validated", a)
		}
	}
}

func TestIntersectsAndCover(t *testing.T) {
	a, b, c := TimeWindow{0, 10}, TimeWindow{10, 20}, TimeWindow{21, 30}
	if !a.Intersects(b) || b.Intersects(c) {
		t.Fatal("Intersects wrong")
	}
	if got := a.Cover(c); got != (TimeWindow{0, 30}) {
		t.Fatalf("Cover = %v", got)
	}
}
