package hashmap

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/weirstream/weir/internal/backend"
)

// rawEntries are restored entries not decoded yet (see store.restore), one
// after another in the encoding of a run (backend.RunRestorer). They are
// appended by the restore and only read afterwards.
type rawEntries struct {
	buf  []byte
	n    int
	at   int64 // the processing time the entries were restored at
	prev int   // offset in buf of the last entry
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
// alias the buffer.
func (r *rawEntries) each(fn func(backend.Entry) error) error {
	for p := r.buf; len(p) > 0; {
		e, rest, err := backend.NextEncoded(p)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		p = rest
	}
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

// grow makes room in r.buf for n more bytes, expecting about more entries
// of about avg bytes after these.
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
