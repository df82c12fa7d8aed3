package hashmap

import (
	"fmt"

	"github.com/weirstream/weir/serde"
)

// describable returns the first of errs, the schemaErr of each serializer
// of state name, naming the state: a serializer that cannot describe itself
// leaves no snapshot to check a later version of the job against.
func describable(name string, errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("hashmap: state %q: %w", name, err)
		}
	}
	return nil
}

// schemaErr is the error of serde.SchemaFor(ser).
func schemaErr[T any](ser serde.Serializer[T]) error {
	_, err := serde.SchemaFor(ser)
	return err
}

// encodedSchema returns the encoded schema of ser, or nil if it cannot
// describe itself.
func encodedSchema[T any](ser serde.Serializer[T]) []byte {
	s, err := serde.SchemaFor(ser)
	if err != nil {
		return nil
	}
	return serde.AppendSchema(nil, s)
}

// composite encodes a schema built around element schemas; nil if any part
// is unavailable.
func composite(kind serde.Kind, key, elem []byte) []byte {
	var k, e *serde.Schema
	if key != nil {
		s, _, err := serde.ReadSchema(key)
		if err != nil {
			return nil
		}
		k = &s
	}
	if elem == nil {
		return nil
	}
	s, _, err := serde.ReadSchema(elem)
	if err != nil {
		return nil
	}
	e = &s
	return serde.AppendSchema(nil, serde.Schema{Kind: kind, Key: k, Elem: e})
}

func (t *table[K, N]) keyNSSchemas() (key, namespace []byte) {
	return encodedSchema(t.b.keySer), encodedSchema(t.nsSer)
}

// Schemas implements backend.SchemaReporter.
func (t *Value[K, N, V]) Schemas() (key, namespace, value []byte) {
	key, namespace = t.keyNSSchemas()
	return key, namespace, encodedSchema(t.valSer)
}

// Schemas implements backend.SchemaReporter. A list's value is described as
// a slice of its element.
func (t *List[K, N, V]) Schemas() (key, namespace, value []byte) {
	key, namespace = t.keyNSSchemas()
	return key, namespace, composite(serde.KindSlice, nil, encodedSchema(t.valSer))
}

// Schemas implements backend.SchemaReporter. A map state's value is
// described as a map of its user key to its user value.
func (t *Map[K, N, UK, UV]) Schemas() (key, namespace, value []byte) {
	key, namespace = t.keyNSSchemas()
	return key, namespace, composite(serde.KindMap, encodedSchema(t.ukSer), encodedSchema(t.uvSer))
}

// Schemas implements backend.SchemaReporter. A timer's value is its
// timestamp.
func (t *Timers[K, N]) Schemas() (key, namespace, value []byte) {
	return encodedSchema(t.b.keySer), encodedSchema(t.nsSer), encodedSchema[int64](serde.Int64{})
}
