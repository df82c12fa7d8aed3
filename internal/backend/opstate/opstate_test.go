package opstate

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weirstream/weir/serde"
)

func TestRedistributeEvenSplit(t *testing.T) {
	old := [][]int{{0, 1, 2}, {3}, {}, {4, 5, 6, 7, 8}}
	for newP := 1; newP <= 12; newP++ {
		got := Redistribute(old, newP, EvenSplit)
		if len(got) != newP {
			t.Fatalf("newP=%d: %d parts", newP, len(got))
		}
		var flat []int
		lo, hi := 1<<30, -1
		for _, part := range got {
			flat = append(flat, part...)
			lo, hi = min(lo, len(part)), max(hi, len(part))
		}
		if !slices.Equal(flat, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("newP=%d: elements %v", newP, flat)
		}
		if hi-lo > 1 {
			t.Fatalf("newP=%d: part sizes differ by %d", newP, hi-lo)
		}
	}
}

func TestRedistributeUnion(t *testing.T) {
	got := Redistribute([][]string{{"a"}, {"b", "c"}}, 3, Union)
	for i, part := range got {
		if !slices.Equal(part, []string{"a", "b", "c"}) {
			t.Fatalf("subtask %d got %v", i, part)
		}
	}
	got[0][0] = "changed"
	if got[1][0] != "a" {
		t.Fatal("union parts share memory")
	}
}

func TestListRegistration(t *testing.T) {
	b := New()
	l, err := NewList(b, "splits", EvenSplit, serde.Bytes{})
	if err != nil {
		t.Fatal(err)
	}
	l.Add([]byte("x"))
	l.Add([]byte("y"))
	again, err := NewList(b, "splits", EvenSplit, serde.Bytes{})
	if err != nil || again != l {
		t.Fatalf("re-registration: %v %v", again, err)
	}
	if _, err := NewList(b, "splits", Union, serde.Bytes{}); err == nil {
		t.Fatal("same name with another mode accepted")
	}
	if _, err := NewList[int](b, "splits", EvenSplit, serde.Int{}); err == nil {
		t.Fatal("same name with another type accepted")
	}
	enc := b.Tables()[0].Encoded()
	if fmt.Sprint(enc) != fmt.Sprint([][]byte{{1, 'x'}, {1, 'y'}}) {
		t.Fatalf("encoded %v", enc)
	}
	l.Update(nil)
	if len(b.Tables()[0].Encoded()) != 0 {
		t.Fatal("Update(nil) kept elements")
	}
}
