package hashmap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/hashmap"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// TestSeal: once sealed, a backend refuses a new state of any kind, and
// still hands out the states registered before.
func TestSeal(t *testing.T) {
	b := hashmap.New[string](serde.String{}, func(s string) uint64 { return keyspace.Hash([]byte(s)) }, func() int64 { return 0 })
	v, err := hashmap.NewValue[string, int, int64](b, "count", backend.KindValue, serde.Int{}, serde.Int64{}, hashmap.TTL{})
	if err != nil {
		t.Fatal(err)
	}
	b.Seal()
	again, err := hashmap.NewValue[string, int, int64](b, "count", backend.KindValue, serde.Int{}, serde.Int64{}, hashmap.TTL{})
	if err != nil || again != v {
		t.Fatalf("the state registered before Seal: %v, %v", again, err)
	}
	for name, register := range map[string]func() error{
		"value": func() error {
			_, err := hashmap.NewValue[string, int, int64](b, "v", backend.KindValue, serde.Int{}, serde.Int64{}, hashmap.TTL{})
			return err
		},
		"list": func() error {
			_, err := hashmap.NewList[string, int, int64](b, "l", serde.Int{}, serde.Int64{}, hashmap.TTL{})
			return err
		},
		"map": func() error {
			_, err := hashmap.NewMap[string, int, string, int64](b, "m", serde.Int{}, serde.String{}, serde.Int64{}, hashmap.TTL{})
			return err
		},
	} {
		if err := register(); !errors.Is(err, hashmap.ErrSealed) {
			t.Errorf("%s state registered after Seal: %v, want ErrSealed", name, err)
		}
	}
	if n := len(b.Tables()); n != 1 {
		t.Errorf("%d tables after refused registrations, want 1", n)
	}
}

// badSchema is a serializer whose snapshot is not a valid schema.
type badSchema struct{ serde.Int64 }

func (badSchema) Schema() serde.Schema { return serde.Schema{} }

// TestUndescribableSerializerRefused: a state whose serializer's snapshot
// is invalid is refused when it is registered, naming the state, instead of
// being saved without the schema a later version is checked against.
func TestUndescribableSerializerRefused(t *testing.T) {
	b := hashmap.New[string](serde.String{}, func(s string) uint64 { return keyspace.Hash([]byte(s)) }, func() int64 { return 0 })
	_, err := hashmap.NewValue[string, int, int64](b, "count", backend.KindValue, serde.Int{}, badSchema{}, hashmap.TTL{})
	if !errors.Is(err, serde.ErrInvalidSchema) || !strings.Contains(err.Error(), `state "count"`) {
		t.Fatalf("NewValue with an invalid serializer snapshot: %v", err)
	}
	_, err = hashmap.NewMap[string, int, string, int64](b, "m", serde.Int{}, serde.String{}, badSchema{}, hashmap.TTL{})
	if !errors.Is(err, serde.ErrInvalidSchema) {
		t.Fatalf("NewMap with an invalid user-value serializer snapshot: %v", err)
	}
	if n := len(b.Tables()); n != 0 {
		t.Errorf("%d tables registered, want 0", n)
	}
}
