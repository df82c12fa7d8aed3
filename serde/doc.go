// Package serde turns Go values into bytes and back for everything weir
// writes: keyed state, operator state, timers and the canonical encoding of
// keys, whose hash decides which subtask owns a key.
//
// A Serializer[T] appends a value's encoding to a byte slice and reads it back.
// Of[T] returns the serializer weir uses for T when the user gives none: fixed
// width big-endian integers and floats, length-prefixed strings and byte
// slices, slices, arrays, maps, pointers, time.Time, and structs field by field
// (exported fields, in declaration order). The encoding of a key is canonical:
// equal keys always encode to equal bytes, which is what makes the key hash
// stable across processes, machines and releases.
//
// Every serializer also describes what it writes: its snapshot, a Schema
// (SchemaOf[T], or SchemaFor a given serializer through the optional
// Snapshotter interface). Savepoints store each state's schema with
// AppendSchema; a restore reads it back with ReadSchema and asks Compatible
// whether the new job's serializer can read the old data as is, or why not.
// Schema.String is the form weir inspect and error messages show.
package serde
