package hashmap

import (
	"testing"

	"github.com/weirstream/weir/serde"
)

// userSer is a user's serializer of any T (its methods are never called).
type userSer[T any] struct{}

func (userSer[T]) Append(dst []byte, _ T) []byte { return dst }
func (userSer[T]) Read([]byte) (T, int, error) {
	var zero T
	return zero, 0, nil
}

// TestCopies: serde's serializers copy; a user's serializer is trusted to
// copy only for types that cannot point to memory.
func TestCopies(t *testing.T) {
	type flat struct {
		A int64
		B [3]float64
		C struct{ D bool }
	}
	type withString struct {
		A int64
		S string
	}
	for name, c := range map[string]struct{ got, want bool }{
		"serde string":           {copies(serde.String{}), true},
		"serde bytes":            {copies(serde.Bytes{}), true},
		"serde struct":           {copies(serde.Of[withString]()), true},
		"user int64":             {copies(userSer[int64]{}), true},
		"user flat struct":       {copies(userSer[flat]{}), true},
		"user empty struct":      {copies(userSer[struct{}]{}), true},
		"user string":            {copies(userSer[string]{}), false},
		"user bytes":             {copies(userSer[[]byte]{}), false},
		"user struct, string":    {copies(userSer[withString]{}), false},
		"user array of strings":  {copies(userSer[[2]string]{}), false},
		"user pointer":           {copies(&userSer[*int64]{}), false},
		"user map":               {copies(userSer[map[int]int]{}), false},
		"user zero-length array": {copies(userSer[[0]string]{}), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: copies = %v, want %v", name, c.got, c.want)
		}
	}
}
