package hashmap

import (
	"github.com/weirstream/weir/internal/backend"
)

// rawEntries are restored entries not decoded yet (see store.restore), one
// after another in the encoding of a run (backend.RunRestorer). They are
// appended by the restore and only read afterwards.
type rawEntries struct {
	buf []byte
	n   int
	at  int64 // the processing time the entries were restored at
}

// rawSize is the size of e in the encoding of a run.
func rawSize(e backend.Entry) int {
	return 8 + uvarintLen(len(e.Key)) + len(e.Key) + uvarintLen(len(e.Namespace)) + len(e.Namespace) + uvarintLen(len(e.Value)) + len(e.Value)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
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
// A restore fills shards one after another (entries come in hash order), so
// a shard's buffer is sized once for the entries it expects, and the memory
// of many shards comes from one allocation.
type rawArena struct {
	chunk []byte // the free part of the current chunk
	// bytes and entries restored so far, for the expected entry size.
	bytes, entries int
}

const rawChunk = 1 << 20

// grow returns buf with room for at least n more bytes, expecting about
// more entries after these.
func (a *rawArena) grow(buf []byte, n, more int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	avg := n
	if a.entries > 0 {
		avg = a.bytes/a.entries + 1
	}
	size := len(buf) + n + more*avg
	if len(buf) > 0 {
		size = max(size, 2*len(buf)) // outgrown: double
	}
	if size > rawChunk/4 {
		b := make([]byte, len(buf), size)
		copy(b, buf)
		return b
	}
	if len(a.chunk) < size {
		a.chunk = make([]byte, rawChunk)
	}
	b := append(a.chunk[:0:size], buf...)
	a.chunk = a.chunk[size:]
	return b
}
