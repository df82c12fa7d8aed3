package serde

import "unsafe"

// An Arena hands out memory for decoded values from larger chunks, so that
// decoding many small strings or byte slices (a restore of millions of
// entries) allocates once per chunk instead of once per value.
//
// Values share their chunk: a chunk stays alive while any value in it does,
// so after values are replaced the memory they held returns only when the
// whole chunk is unused; the memory held never exceeds what the decoded
// values needed when they were decoded, plus one partly used chunk. Values
// larger than an eighth of a chunk get an allocation of their own. A byte
// slice from an arena has a capacity equal to its length, so appending to
// it copies rather than writing over its neighbour.
//
// The zero Arena is ready to use. An Arena is not safe for concurrent use.
type Arena struct {
	chunk []byte // the free part of the current chunk
}

// arenaChunk is the size of an arena's chunks.
const arenaChunk = 64 << 10

// Bytes returns a copy of b in arena memory. An empty b gives an empty,
// non-nil slice.
func (a *Arena) Bytes(b []byte) []byte {
	n := len(b)
	if n == 0 {
		return []byte{}
	}
	if n > arenaChunk/8 {
		out := make([]byte, n)
		copy(out, b)
		return out
	}
	if len(a.chunk) < n {
		a.chunk = make([]byte, arenaChunk)
	}
	out := a.chunk[:n:n]
	a.chunk = a.chunk[n:]
	copy(out, b)
	return out
}

// String returns b as a string in arena memory.
func (a *Arena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	c := a.Bytes(b)
	// c is never written again: the arena hands each range out once.
	return unsafe.String(unsafe.SliceData(c), len(c))
}

// ArenaReader is implemented by serializers that can decode values into
// memory from an Arena. ReadArena decodes exactly as Read does.
type ArenaReader[T any] interface {
	ReadArena(src []byte, a *Arena) (v T, n int, err error)
}

// ReadArena implements ArenaReader.
func (String) ReadArena(src []byte, a *Arena) (string, int, error) {
	b, n, err := readBytes(src)
	if err != nil {
		return "", 0, err
	}
	return a.String(b), n, nil
}

// ReadArena implements ArenaReader.
func (Bytes) ReadArena(src []byte, a *Arena) ([]byte, int, error) {
	b, n, err := readBytes(src)
	if err != nil {
		return nil, 0, err
	}
	return a.Bytes(b), n, nil
}
