package hashmap

import (
	"testing"

	"github.com/weirstream/weir/serde"
)

// TestToucher checks which types get a toucher and that it reads the right
// bytes, empty and nil values included.
func TestToucher(t *testing.T) {
	if toucherFor[int64]() != nil || toucherFor[struct{ a, b int }]() != nil || toucherFor[[]struct{}]() != nil {
		t.Fatal("a toucher for a type that refers to nothing")
	}
	s := "abc"
	if got := toucherFor[string]()(&s); got != 'a'^'c' {
		t.Errorf("string: got %d", got)
	}
	b := []byte{1, 2, 4}
	if got := toucherFor[[]byte]()(&b); got != 1^4 {
		t.Errorf("[]byte: got %d", got)
	}
	// The last byte of a slice of wider elements is the last element's.
	w := []uint16{0x0101, 0x0202}
	if got := toucherFor[[]uint16]()(&w); got != 1^2 {
		t.Errorf("[]uint16: got %#x", got)
	}
	x := int64(7)
	p := &x
	if got := toucherFor[*int64]()(&p); got != 7 {
		t.Errorf("*int64: got %d", got)
	}
	var (
		es string
		eb []byte
		np *int64
	)
	if toucherFor[string]()(&es) != 0 || toucherFor[[]byte]()(&eb) != 0 || toucherFor[*int64]()(&np) != 0 {
		t.Error("an empty or nil value touched something")
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
