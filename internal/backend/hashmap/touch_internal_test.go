package hashmap

import (
	"testing"
	"unsafe"

	"github.com/weirstream/weir/serde"
)

// TestTouch checks which types have references to load ahead and that
// refs.touch reads the right bytes, empty and nil values included.
func TestTouch(t *testing.T) {
	if refsOf[int64]().kind != refNone || refsOf[struct{ a, b int }]().kind != refNone || refsOf[[]struct{}]().kind != refNone || refsOf[*struct{}]().kind != refNone {
		t.Fatal("references to load for a type that refers to nothing")
	}
	touch := func(r refs, vs ...unsafe.Pointer) byte { return r.touch(vs) }
	s := "abc"
	if got := touch(refsOf[string](), unsafe.Pointer(&s)); got != 'a'^'c' {
		t.Errorf("string: got %d", got)
	}
	b := []byte{1, 2, 4}
	if got := touch(refsOf[[]byte](), unsafe.Pointer(&b)); got != 1^4 {
		t.Errorf("[]byte: got %d", got)
	}
	// The last byte of a slice of wider elements is the last element's.
	w := []uint16{0x0101, 0x0202}
	if got := touch(refsOf[[]uint16](), unsafe.Pointer(&w)); got != 1^2 {
		t.Errorf("[]uint16: got %#x", got)
	}
	// A pointer's target: its first byte.
	x := int64(7)
	p := &x
	if got := touch(refsOf[*int64](), unsafe.Pointer(&p)); got != 7 {
		t.Errorf("*int64: got %d", got)
	}
	var (
		es string
		eb []byte
		np *int64
	)
	if touch(refsOf[string](), unsafe.Pointer(&es)) != 0 || touch(refsOf[[]byte](), unsafe.Pointer(&eb)) != 0 || touch(refsOf[*int64](), unsafe.Pointer(&np)) != 0 {
		t.Error("an empty or nil value touched something")
	}
	// Several values at once, more than a batch: the xor of the first
	// batch's.
	vals := make([][]byte, touchBatch+3)
	var want byte
	for i := range vals {
		vals[i] = []byte{byte(i), 0, byte(i * 3)}
		if i < touchBatch {
			want ^= byte(i) ^ byte(i*3)
		}
	}
	ptrs := make([]unsafe.Pointer, len(vals))
	for i := range vals {
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	if got := refsOf[[]byte]().touch(ptrs); got != want {
		t.Errorf("a batch: got %d, want %d", got, want)
	}
}

// TestEntryLayout checks what encodeBatch relies on: an entry's value lies
// at its start, so a pointer to the entry is one to the value.
func TestEntryLayout(t *testing.T) {
	if unsafe.Offsetof(entry[[]byte]{}.v) != 0 || unsafe.Offsetof(entry[string]{}.v) != 0 || unsafe.Offsetof(entry[*int]{}.v) != 0 {
		t.Fatal("an entry's value does not lie at its start")
	}
}

// readValidated embeds serde.String but reads through its own Read.
type readValidated struct{ serde.String }

func (readValidated) Read(src []byte) (string, int, error) {
	return "validated", len(src), nil
}

// TestReaderForOnlyBuiltins: arena decoding is used for the built-in string
// and byte-slice serializers only, never in place of a user's Read.
func TestReaderForOnlyBuiltins(t *testing.T) {
	if readerFor[string](serde.String{}).arena == nil || readerFor[[]byte](serde.Bytes{}).arena == nil {
		t.Fatal("built-in serializers do not decode into the arena")
	}
	r := readerFor[string](readValidated{})
	if r.arena != nil {
		t.Fatal("a serializer overriding Read decodes through the embedded ReadArena")
	}
	var a serde.Arena
	if v, _, _ := r.read(serde.String{}.Append(nil, "x"), &a); v != "validated" {
		t.Fatalf("read %q, want the user's Read", v)
	}
}
