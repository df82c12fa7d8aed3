package hashmap

import (
	"bytes"
	"encoding/binary"
	"math"
	"runtime"

	"github.com/weirstream/weir/internal/backend"
)

// rawEntries are restored entries not decoded yet (see store.restore), one
// after another in the encoding of a run (backend.RunRestorer), in pieces:
// pieces of arena memory that the restore copied entries into, and pieces
// of file mappings that it kept as they are (backend.Run.Keep). They are
// appended by the restore and only read afterwards.
type rawEntries struct {
	pieces [][]byte // the pieces before buf, in order
	buf    []byte   // the last piece
	mapped bool     // buf lies in a mapping: appends start a new piece
	keep   []any    // the mappings that pieces lie in, each once
	// mappedBytes counts the bytes of the pieces that lie in mappings.
	mappedBytes int
	n           int
	at          int64 // the processing time the entries were restored at
	prev        int   // offset in buf of the last entry
}

// seal ends the last piece: the next append starts a new one.
func (r *rawEntries) seal() {
	if len(r.buf) > 0 {
		r.pieces = append(r.pieces, r.buf[:len(r.buf):len(r.buf)])
	}
	r.buf, r.mapped, r.prev = nil, false, 0
}

// addMapped appends piece, whole entries of which the last starts at last,
// as a piece of its own that lies in the mapping keep. The caller has
// detached r from its arena.
func (r *rawEntries) addMapped(piece []byte, last int, keep any) {
	r.seal()
	r.buf, r.mapped, r.prev = piece[:len(piece):len(piece)], true, last
	r.mappedBytes += len(piece)
	if len(r.keep) == 0 || r.keep[len(r.keep)-1] != keep {
		r.keep = append(r.keep, keep)
	}
}

// size returns the number of bytes of r's entries.
func (r *rawEntries) size() int {
	n := len(r.buf)
	for _, p := range r.pieces {
		n += len(p)
	}
	return n
}

// dup reports whether e has the hash, key and namespace of the last entry.
func (r *rawEntries) dup(e backend.Entry) bool {
	if r.n == 0 || binary.LittleEndian.Uint64(r.buf[r.prev:]) != e.Hash {
		return false
	}
	last, _, err := backend.NextEncoded(r.buf[r.prev:])
	return err == nil && sameKey(last, e)
}

// dupEncoded is dup for the entry at the start of run, in the encoding of a
// run: only an entry with the last one's hash is decoded.
func (r *rawEntries) dupEncoded(run []byte) bool {
	if r.n == 0 || binary.LittleEndian.Uint64(r.buf[r.prev:]) != binary.LittleEndian.Uint64(run) {
		return false
	}
	return sameEncodedKey(r.buf[r.prev:], run)
}

// sameEncodedKey reports whether the entries at the start of a and b, in the
// encoding of a run, are well formed and have the same hash, key and
// namespace.
func sameEncodedKey(a, b []byte) bool {
	ea, _, err := backend.NextEncoded(a)
	if err != nil {
		return false
	}
	eb, _, err := backend.NextEncoded(b)
	return err == nil && sameKey(ea, eb)
}

// sameKey reports whether a and b have the same hash, key and namespace.
func sameKey(a, b backend.Entry) bool {
	return a.Hash == b.Hash && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Namespace, b.Namespace)
}

// each calls fn for every entry in the order added; the slices passed to fn
// alias r's pieces, and are valid only during the call.
func (r *rawEntries) each(fn func(backend.Entry) error) error {
	for i := 0; i <= len(r.pieces); i++ {
		p := r.buf
		if i < len(r.pieces) {
			p = r.pieces[i]
		}
		for len(p) > 0 {
			e, rest, err := backend.NextEncoded(p)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
			p = rest
		}
	}
	// p may lie in a mapping that only r holds (a shard decoding its raw
	// entries has let go of r already): r must stay reachable until p is
	// read, or the mapping's cleanup could unmap it mid-read.
	runtime.KeepAlive(r)
	return nil
}

// rawArena carves the buffers of shards' raw entries out of large chunks.
// A restore fills shards one after another (entries come in hash order):
// the shard being filled owns the end of the current chunk and grows in
// place; when another shard starts, the last one's buffer is trimmed to its
// length and the rest of the chunk goes to the new one. Memory is thus the
// data plus at most the unused end of each chunk. A chunk stays alive while
// any shard in it holds raw entries.
type rawArena struct {
	chunk []byte      // the current chunk
	used  int         // bytes of chunk handed out, last's included
	last  *rawEntries // the entries that own the end of chunk, if any
	start int         // where last's buffer starts in chunk
}

const rawChunk = 1 << 20

// detach ends r's claim on the end of the current chunk, if it has one,
// before r.buf is replaced by a piece that does not lie in the arena.
func (a *rawArena) detach(r *rawEntries) {
	if a.last == r {
		r.buf = r.buf[:len(r.buf):len(r.buf)]
		a.used = a.start + len(r.buf)
		a.last = nil
	}
}

// grow makes room in r.buf for n more bytes, expecting about more entries
// of about avg bytes after these. r.buf must not be a mapped piece.
func (a *rawArena) grow(r *rawEntries, n, more, avg int) {
	if cap(r.buf)-len(r.buf) >= n {
		return
	}
	want := len(r.buf) + n + more*avg
	if r == a.last && a.start+want <= len(a.chunk) {
		// r owns the end of the chunk: extend in place.
		r.buf = a.chunk[a.start : a.start+len(r.buf) : a.start+want]
		a.used = a.start + want
		return
	}
	if a.last != nil && a.last != r {
		// The previous shard is done: give back what it did not use.
		a.last.buf = a.last.buf[:len(a.last.buf):len(a.last.buf)]
		a.used = a.start + len(a.last.buf)
	}
	a.last = nil
	if want > rawChunk/2 {
		// Too big to share a chunk: a buffer of its own. more is what the
		// reserve expected the shard to hold, and hashes spread the real
		// count around it with a standard deviation of about its square
		// root: room for three of them beyond it, so that a buffer rarely
		// has to move (a move copies megabytes into fresh memory, twice
		// the page faults). One that does doubles.
		headroom := (3*int(math.Sqrt(float64(more))) + 8) * avg
		b := make([]byte, len(r.buf), max(want+headroom, 2*cap(r.buf)))
		prefault(b)
		copy(b, r.buf)
		r.buf = b
		return
	}
	if len(a.chunk)-a.used < want {
		a.chunk, a.used = make([]byte, rawChunk), 0
		prefault(a.chunk)
	}
	a.start, a.last = a.used, r
	r.buf = append(a.chunk[a.start:a.start:a.start+want], r.buf...)
	a.used = a.start + want
}
