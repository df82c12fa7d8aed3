// Package keyspace holds the partition math of keyed state: how a key's
// stable 64-bit hash maps to the subtask that owns it, and which contiguous
// range of the hash space each subtask owns.
//
// The hash space [0, 2^64) is split into p contiguous ranges of near-equal
// size. Subtask i of p owns the hashes h with floor(h*p / 2^64) == i. Because
// ownership is decided by ranges of a fixed hash rather than by a fixed number
// of key groups, state written at any parallelism can be read back at any
// other: a new subtask reads exactly the hashes of its range, whichever old
// subtasks wrote them. There is no maximum parallelism to fix in advance.
//
// The hash is part of the on-disk format of savepoints and must never change.
package keyspace

import (
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Hash returns the stable hash of a key's canonical encoding. It is xxhash64
// with seed 0 and is part of the savepoint format.
func Hash(b []byte) uint64 { return xxhash.Sum64(b) }

// HashUint64 returns Hash of the 8-byte big-endian encoding of v without
// allocating. It equals Hash(binary.BigEndian.AppendUint64(nil, v)): it is
// xxhash64's steps for one 8-byte word written out, which the compiler
// inlines, where xxhash.Sum64 is a call through its general loop (the
// key hash of every keyed record and of every entry a snapshot encodes).
func HashUint64(v uint64) uint64 {
	const (
		prime1 uint64 = 11400714785074694791
		prime2 uint64 = 14029467366897019727
		prime3 uint64 = 1609587929392839161
		prime4 uint64 = 9650029242287828579
		prime5 uint64 = 2870177450012600261
	)
	// The word as xxhash reads it: little-endian, of big-endian bytes.
	k := bits.RotateLeft64(bits.ReverseBytes64(v)*prime2, 31) * prime1
	h := (prime5 + 8) ^ k
	h = bits.RotateLeft64(h, 27)*prime1 + prime4
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// Owner returns the subtask, in [0, parallelism), that owns hash h.
func Owner(h uint64, parallelism int) int {
	hi, _ := bits.Mul64(h, uint64(parallelism))
	return int(hi)
}

// Range is an inclusive range [Lo, Hi] of the hash space.
type Range struct {
	Lo, Hi uint64
}

// Contains reports whether h lies in r.
func (r Range) Contains(h uint64) bool { return h >= r.Lo && h <= r.Hi }

// Overlaps reports whether r and o share at least one hash.
func (r Range) Overlaps(o Range) bool { return r.Lo <= o.Hi && o.Lo <= r.Hi }

// String formats r as [lo, hi] in hex.
func (r Range) String() string { return fmt.Sprintf("[%016x, %016x]", r.Lo, r.Hi) }

// Full is the whole hash space.
var Full = Range{Lo: 0, Hi: ^uint64(0)}

// RangeOf returns the range owned by subtask i of p. The ranges of all
// subtasks of p are disjoint, contiguous and cover the hash space; for every
// h, RangeOf(Owner(h, p), p).Contains(h).
func RangeOf(i, p int) Range {
	if p <= 0 || i < 0 || i >= p {
		panic(fmt.Sprintf("keyspace: subtask %d of parallelism %d", i, p))
	}
	lo := start(i, p)
	if i == p-1 {
		return Range{Lo: lo, Hi: ^uint64(0)}
	}
	return Range{Lo: lo, Hi: start(i+1, p) - 1}
}

// start returns ceil(i * 2^64 / p), the first hash owned by subtask i.
func start(i, p int) uint64 {
	if i == 0 {
		return 0
	}
	q, r := bits.Div64(uint64(i), 0, uint64(p))
	if r != 0 {
		q++
	}
	return q
}
