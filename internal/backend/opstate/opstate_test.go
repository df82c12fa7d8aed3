package opstate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestNewRestored: a list registered in a restored backend starts with the
// elements restored under its name, once the check accepts its element
// schema; a refused schema fails the registration and restores nothing; a
// list of another name starts empty.
func TestNewRestored(t *testing.T) {
	enc := func(vs ...int64) [][]byte {
		var out [][]byte
		for _, v := range vs {
			out = append(out, serde.Int64{}.Append(nil, v))
		}
		return out
	}
	var checked []string
	b := NewRestored(map[string][][]byte{"a": enc(1, 2), "b": enc(3)}, func(name string, mode Mode, schema []byte) error {
		checked = append(checked, name+" "+mode.String())
		s, _, err := serde.ReadSchema(schema)
		if err != nil {
			return err
		}
		if s.Kind != serde.KindInt64 {
			return fmt.Errorf("state %q: want int64, have %v", name, s)
		}
		return nil
	})
	a, err := NewList(b, "a", EvenSplit, serde.Int64{})
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(a.All()); !slices.Equal(got, []int64{1, 2}) || !b.Restored("a") {
		t.Fatalf("list a holds %v (restored: %v), want [1 2]", got, b.Restored("a"))
	}
	if _, err := NewList(b, "b", EvenSplit, serde.String{}); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("a string list took int64 elements: %v", err)
	}
	if b.Restored("b") {
		t.Fatal("list b counts as restored after its check failed")
	}
	c, err := NewList(b, "c", Union, serde.Int64{})
	if err != nil || len(slices.Collect(c.All())) != 0 || b.Restored("c") {
		t.Fatalf("list c: %v, %v", slices.Collect(c.All()), err)
	}
	if !slices.Equal(checked, []string{"a even-split", "b even-split"}) {
		t.Fatalf("checked %v, want a and b", checked)
	}
	if New().Restored("a") {
		t.Fatal("a fresh backend reports a restored list")
	}
}

// TestSeal: once sealed, a backend refuses a new list and still hands out
// the lists registered before; a list whose serializer's snapshot is
// invalid is refused.
func TestSeal(t *testing.T) {
	b := New()
	l, err := NewList(b, "splits", EvenSplit, serde.Bytes{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewList[int64](b, "bad", Union, badSchema{}); !errors.Is(err, serde.ErrInvalidSchema) {
		t.Fatalf("list with an invalid serializer snapshot: %v", err)
	}
	b.Seal()
	if again, err := NewList(b, "splits", EvenSplit, serde.Bytes{}); err != nil || again != l {
		t.Fatalf("the list registered before Seal: %v, %v", again, err)
	}
	if _, err := NewList(b, "late", EvenSplit, serde.Bytes{}); !errors.Is(err, ErrSealed) {
		t.Fatalf("list registered after Seal: %v, want ErrSealed", err)
	}
	if n := len(b.Tables()); n != 1 {
		t.Fatalf("%d lists, want 1", n)
	}
}

// badSchema is a serializer whose snapshot is not a valid schema.
type badSchema struct{ serde.Int64 }

func (badSchema) Schema() serde.Schema { return serde.Schema{} }
