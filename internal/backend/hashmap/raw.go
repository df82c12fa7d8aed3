package hashmap

import (
	"encoding/binary"
	"errors"

	"github.com/weirstream/weir/internal/backend"
)

// rawEntries are restored entries not decoded yet (see store.restore), one
// after another in a compact encoding: hash uint64 LE | uvarint length |
// key | uvarint length | namespace | uvarint length | value. They are
// appended once, by the restore, and only read afterwards.
type rawEntries struct {
	buf []byte
	n   int
	at  int64 // the processing time the entries were restored at
}

// rawSize is the size of e in a rawEntries buffer.
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

// add appends e; buf must have room for rawSize(e) bytes.
func (r *rawEntries) add(e backend.Entry) {
	b := binary.LittleEndian.AppendUint64(r.buf, e.Hash)
	b = binary.AppendUvarint(b, uint64(len(e.Key)))
	b = append(b, e.Key...)
	b = binary.AppendUvarint(b, uint64(len(e.Namespace)))
	b = append(b, e.Namespace...)
	b = binary.AppendUvarint(b, uint64(len(e.Value)))
	r.buf = append(b, e.Value...)
	r.n++
}

var errRawCorrupt = errors.New("hashmap: corrupt raw entries")

// each calls fn for every entry in the order added; the slices passed to fn
// alias the buffer.
func (r *rawEntries) each(fn func(backend.Entry) error) error {
	p := r.buf
	for len(p) > 0 {
		if len(p) < 8 {
			return errRawCorrupt
		}
		e := backend.Entry{Hash: binary.LittleEndian.Uint64(p)}
		p = p[8:]
		var parts [3][]byte
		for i := range parts {
			l, k := binary.Uvarint(p)
			if k <= 0 || l > uint64(len(p)-k) {
				return errRawCorrupt
			}
			parts[i] = p[k : k+int(l) : k+int(l)]
			p = p[k+int(l):]
		}
		e.Key, e.Namespace, e.Value = parts[0], parts[1], parts[2]
		if err := fn(e); err != nil {
			return err
		}
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
