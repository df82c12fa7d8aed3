package nexmark

import "testing"

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
