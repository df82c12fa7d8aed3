package hashmap

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

func reviewValue(t *testing.T) (*Backend[string], *Value[string, int64, int64]) {
	t.Helper()
	hash, err := keyspace.HasherFor[string]()
	if err != nil {
		t.Fatal(err)
	}
	b := New[string](serde.String{}, hash, func() int64 { return 0 })
	v, err := NewValue[string, int64, int64](b, "v", backend.KindValue, serde.Int64{}, serde.Int64{}, TTL{})
	if err != nil {
		t.Fatal(err)
	}
	return b, v
}

// TestCaptureAfterReleasedViewEncodesNothing: a capture taken while shards
// are still pending for an earlier view that was released (an aborted
// checkpoint whose writer never got round to them) does not encode them for
// it: the synchronous phase stays O(shards).
func TestCaptureAfterReleasedViewEncodesNothing(t *testing.T) {
	b, v := reviewValue(t)
	for i := range 50000 {
		b.SetCurrentKey(fmt.Sprint("k", i))
		v.Put(int64(i))
	}
	c1 := v.st.capture(0) // the writer of c1 has not got round to it
	c1.Release()          // the checkpoint was aborted
	c2 := v.st.capture(0) // next barrier
	defer c2.Release()
	encoded := 0
	for i := range c1.out {
		encoded += len(c1.out[i].ents)
	}
	if encoded > 0 {
		t.Errorf("the second capture encoded %d entries of the released view on the task goroutine", encoded)
	}
}

// TestOverlappingCapturesSettleEarlier: with two unreleased views (the
// coordinator never takes two snapshots at once, but the store does not rely
// on it) the second capture settles the first's pending shards, so both
// read back what they captured.
func TestOverlappingCapturesSettleEarlier(t *testing.T) {
	b, v := reviewValue(t)
	for i := range 20000 {
		b.SetCurrentKey(fmt.Sprint("k", i))
		v.Put(int64(i))
	}
	c1 := v.st.capture(0)
	c2 := v.st.capture(0)
	n1, n2 := 0, 0
	if err := c2.Entries(func(backend.Entry) error { n2++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := c1.Entries(func(backend.Entry) error { n1++; return nil }); err != nil {
		t.Fatal(err)
	}
	c1.Release()
	c2.Release()
	if n1 != 20000 || n2 != 20000 {
		t.Errorf("views read %d and %d entries, want 20000 each", n1, n2)
	}
}

// TestReserveNarrowRange: reserving for a subtask's narrow hash range makes
// deep shards only inside the range; the rest of the hash space is covered
// by a few shallow ones, so captures and sweeps do not walk thousands of
// empty shards.
func TestReserveNarrowRange(t *testing.T) {
	_, v := reviewValue(t)
	const p, n = 1024, 131072
	v.Reserve(n, keyspace.RangeOf(3, p))
	shards := 0
	v.st.shards(func(*shard[nsKey[string, int64], *entry[int64]]) { shards++ })
	if need := 2 * n / shardLimit; shards > 8*need {
		t.Errorf("%d shards for %d entries (about %d would hold them)", shards, n, need)
	}
}
