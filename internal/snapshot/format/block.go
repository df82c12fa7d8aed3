package format

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir/internal/backend"
)

// A data file is a 16-byte header followed by blocks:
//
//	header: "WEIRDATA" | version uint16 LE | 6 zero bytes
//	block:  flags uint8 | raw length uint32 LE | entries uint32 LE |
//	        payload | xxhash64 of all preceding bytes of the block, uint64 LE
//	entry (in the raw payload): hash uint64 LE | uvarint len | key |
//	        uvarint len | namespace | uvarint len | value
//
// The payload is the raw entries, or their zstd frame when flags has
// blockZstd set. See docs/format/savepoint.md.
const (
	dataMagic        = "WEIRDATA"
	dataVersion      = uint16(1) // newest data-file version this build writes and reads
	dataHeaderSize   = 16
	blockHeaderSize  = 1 + 4 + 4
	blockTrailerSize = 8
	blockOverhead    = blockHeaderSize + blockTrailerSize
	minEntrySize     = 8 + 1 + 1 + 1

	blockZstd = 1 << 0 // flags: payload is one zstd frame

	// maxCompressedRaw bounds the raw size of a compressed block: larger
	// blocks (which only a single huge entry makes) are stored raw, and a
	// reader never decompresses more than this.
	maxCompressedRaw = 4 << 20
	// maxEntrySize bounds one entry's encoding, so raw lengths fit uint32.
	maxEntrySize = 1<<31 - 1
	// maxBlockLength bounds a block: a full block of the largest block size
	// plus the largest entry, header and checksum. Readers allocate at most
	// this much for one block.
	maxBlockLength = maxBlockSize + maxEntrySize + blockOverhead
	// maxBlockSize is the largest Options.BlockSize.
	maxBlockSize = 16 << 20
)

// dataHeader returns the header of a data file.
func dataHeader() []byte {
	h := make([]byte, dataHeaderSize)
	copy(h, dataMagic)
	binary.LittleEndian.PutUint16(h[8:], dataVersion)
	return h
}

// checkDataHeader returns why h is not a data file header this build reads,
// and the sentinel classifying it.
func checkDataHeader(h []byte) (string, error) {
	if len(h) < dataHeaderSize {
		return fmt.Sprintf("truncated: expected at least %d bytes, found %d", dataHeaderSize, len(h)), ErrTruncated
	}
	if string(h[:8]) != dataMagic {
		return fmt.Sprintf("not a weir data file: it does not start with %q", dataMagic), ErrInconsistent
	}
	switch v := binary.LittleEndian.Uint16(h[8:]); {
	case v == 0:
		return "invalid data file version 0", ErrInconsistent
	case v > dataVersion:
		return fmt.Sprintf("written by a newer weir; data file version %d, this build reads up to %d", v, dataVersion), ErrUnsupportedVersion
	}
	for _, c := range h[10:dataHeaderSize] {
		if c != 0 {
			return "reserved header bytes are not zero", ErrInconsistent
		}
	}
	return "", nil
}

// appendEntry appends the encoding of e to a raw payload: the layout of a
// run of entries (backend.AppendEncoded).
func appendEntry(p []byte, e backend.Entry) []byte { return backend.AppendEncoded(p, e) }

// appendBlock appends the block holding raw (n entries) to dst and returns
// it with the block's checksum. With enc non-nil the payload is compressed
// when that saves at least an eighth of it; zbuf is scratch for the frame.
func appendBlock(dst, raw []byte, n int, enc *zstd.Encoder, zbuf []byte) (out, zbufOut []byte, sum uint64) {
	start := len(dst)
	flags := byte(0)
	payload := raw
	if enc != nil && len(raw) <= maxCompressedRaw {
		zbuf = enc.EncodeAll(raw, zbuf[:0])
		if len(zbuf) <= len(raw)-len(raw)/8 {
			flags |= blockZstd
			payload = zbuf
		}
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(raw)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, payload...)
	sum = xxhash.Sum64(dst[start:])
	return binary.LittleEndian.AppendUint64(dst, sum), zbuf, sum
}

// finishBlock completes a raw block built in place: dst[start:] holds
// blockHeaderSize bytes of room for the header, then the raw payload of n
// entries. It writes the header, appends the checksum and returns dst with
// the checksum: the bytes appendBlock(dst[:start], payload, n, nil, nil)
// would make, without copying the payload.
func finishBlock(dst []byte, start, n int) ([]byte, uint64) {
	h := dst[start : start+blockHeaderSize]
	h[0] = 0 // flags: raw
	binary.LittleEndian.PutUint32(h[1:], uint32(len(dst)-start-blockHeaderSize))
	binary.LittleEndian.PutUint32(h[5:], uint32(n))
	sum := xxhash.Sum64(dst[start:])
	return binary.LittleEndian.AppendUint64(dst, sum), sum
}

// blockError is a problem found in one block; the reader turns it into a
// *FileError naming the file and the block's offset.
type blockError struct {
	reason string
	err    error
}

func (e *blockError) Error() string { return e.reason }
func (e *blockError) Unwrap() error { return e.err }

func blockErrorf(err error, format string, args ...any) *blockError {
	return &blockError{reason: fmt.Sprintf(format, args...), err: err}
}

// decodeBlock verifies block b (header, payload and trailer, exactly) against
// its index entry and returns its raw payload, decompressed with dec into
// scratch when needed (scratch is reused when large enough). Allocation is
// bounded by len(b) and, for compressed blocks, by maxCompressedRaw.
func decodeBlock(b []byte, idx *Block, dec *zstd.Decoder, scratch []byte) (payload []byte, err error) {
	if len(b) < blockOverhead {
		return nil, blockErrorf(ErrTruncated, "block of %d bytes is shorter than the %d bytes of header and checksum", len(b), blockOverhead)
	}
	body := b[:len(b)-blockTrailerSize]
	stored := binary.LittleEndian.Uint64(b[len(body):])
	if got := xxhash.Sum64(body); got != stored {
		return nil, blockErrorf(ErrChecksum, "checksum mismatch: stored %016x, computed %016x", stored, got)
	}
	if stored != idx.Checksum {
		return nil, blockErrorf(ErrInconsistent, "block checksum %016x differs from %016x in the index of _metadata (data file replaced or from another snapshot?)", stored, idx.Checksum)
	}
	flags := body[0]
	rawLen := binary.LittleEndian.Uint32(body[1:])
	n := binary.LittleEndian.Uint32(body[5:])
	p := body[blockHeaderSize:]
	if uint64(n) != idx.Entries {
		return nil, blockErrorf(ErrInconsistent, "block holds %d entries, the index says %d", n, idx.Entries)
	}
	if n == 0 {
		return nil, blockErrorf(ErrInconsistent, "block holds no entries")
	}
	switch flags {
	case 0:
		if uint64(rawLen) != uint64(len(p)) {
			return nil, blockErrorf(ErrInconsistent, "raw length %d differs from the payload's %d bytes", rawLen, len(p))
		}
		return p, nil
	case blockZstd:
		if rawLen > maxCompressedRaw {
			return nil, blockErrorf(ErrInconsistent, "compressed block declares %d raw bytes, more than the maximum %d", rawLen, maxCompressedRaw)
		}
		if dec == nil {
			return nil, blockErrorf(ErrInconsistent, "compressed block but no decoder")
		}
		dst := scratch
		if cap(dst) < int(rawLen) {
			dst = make([]byte, 0, rawLen)
		}
		// The decoder is limited to cap(dst) (WithDecodeAllCapLimit).
		out, err := dec.DecodeAll(p, dst[:0:rawLen])
		if err != nil {
			return nil, blockErrorf(ErrInconsistent, "cannot decompress block: %v", err)
		}
		if len(out) != int(rawLen) {
			return nil, blockErrorf(ErrInconsistent, "block decompressed to %d bytes, its header says %d", len(out), rawLen)
		}
		return out, nil
	default:
		return nil, blockErrorf(ErrInconsistent, "unknown block flags %#02x (written by a newer weir?)", flags)
	}
}

// entryIter walks the entries of a raw payload.
type entryIter struct {
	p    []byte // the rest of the payload
	left uint64 // entries still to decode
	last []byte // the encoding of the entry decoded last
}

// next decodes the next entry. It returns ok=false at the end, and an error
// if the payload does not hold exactly the promised number of entries.
func (it *entryIter) next() (e backend.Entry, ok bool, err error) {
	if it.left == 0 {
		if len(it.p) != 0 {
			return e, false, blockErrorf(ErrInconsistent, "%d unexpected bytes after the last entry of the block", len(it.p))
		}
		return e, false, nil
	}
	if len(it.p) < minEntrySize {
		return e, false, blockErrorf(ErrInconsistent, "block payload ends with %d entries still expected", it.left)
	}
	start := it.p
	e.Hash = binary.LittleEndian.Uint64(it.p)
	p := it.p[8:]
	var fields [3][]byte
	for i := range fields {
		l, n := binary.Uvarint(p)
		if n <= 0 || n > 1 && p[n-1] == 0 || l > uint64(len(p)-n) {
			return e, false, blockErrorf(ErrInconsistent, "bad entry length in block payload")
		}
		p = p[n:]
		if l > 0 {
			fields[i] = p[:l:l]
		}
		p = p[l:]
	}
	e.Key, e.Namespace, e.Value = fields[0], fields[1], fields[2]
	it.last = start[:len(start)-len(p)]
	it.p = p
	it.left--
	return e, true, nil
}

// blockScan is what scanBlock learns of a block's entries.
type blockScan struct {
	start, end int    // the bytes of the payload holding the entries in range
	n          uint64 // the number of entries in range
	last       uint64 // the hash of the last entry examined
	past       bool   // an entry beyond the range was met (and the scan stopped)
	// offs holds where each entry in range starts, from start on (the
	// scratch slice passed to scanBlock, refilled).
	offs []uint32
	// distinct reports that no two consecutive entries in range have the
	// same hash.
	distinct bool
}

// measureEntry returns the size of the entry at the start of p, or 0 if p
// does not start with a whole entry in canonical encoding (the lengths as
// shortest varints), as scanBlock requires.
func measureEntry(p []byte) int {
	q := 8
	if len(p) < minEntrySize {
		return 0
	}
	for range 3 {
		if q >= len(p) {
			return 0
		}
		l, k := uint64(p[q]), 1
		if l >= 0x80 {
			if l, k = binary.Uvarint(p[q:]); k <= 0 || p[q+k-1] == 0 {
				return 0
			}
		}
		q += k
		if l > uint64(len(p)-q) {
			return 0
		}
		q += int(l)
	}
	return q
}

// scanBlock checks the entries of a raw payload p that promises b.Entries
// entries, as entryIter and cursor.next check them one by one (lengths,
// canonical varints, hash order from prev on, the index's first and last
// hash), and finds the run of entries with hashes in [lo, hi], recording
// where each of them starts (in offs, reused). It stops at the first entry
// beyond hi, as a cursor does. It is the fast path of a restore in runs:
// one tight loop per block, no entry decoded.
func scanBlock(p []byte, b *Block, prev, lo, hi uint64, offs []uint32) (blockScan, error) {
	s := blockScan{offs: offs[:0], distinct: true}
	// Walking entry by entry, each length is read only once the one before
	// it has been added: a chain of dependent loads, each waiting on the
	// cache. Entries of a state mostly share their lengths, so the walk
	// guesses that an entry has the lengths of the one before it (pat) and
	// checks the three length bytes where that guess puts them: the loads
	// no longer depend on each other, and the entry ends at off+pat.size.
	// A wrong guess parses the entry in full (entryEnd) and guesses anew.
	pat := lengths{size: minEntrySize}
	off := 0
	entries, first, last := b.Entries, b.FirstHash, b.LastHash
	for i := uint64(0); i < entries; i++ {
		if len(p)-off < minEntrySize {
			return s, blockErrorf(ErrInconsistent, "block payload ends with %d entries still expected", entries-i)
		}
		h := binary.LittleEndian.Uint64(p[off:])
		switch {
		case i == 0 && h != first:
			return s, blockErrorf(ErrInconsistent, "block's first entry has hash %016x, the index says %016x", h, first)
		case h < prev:
			return s, blockErrorf(ErrInconsistent, "entries out of hash order (%016x after %016x)", h, prev)
		case h > last:
			return s, blockErrorf(ErrInconsistent, "entry hash %016x is beyond the block's last hash %016x in the index", h, last)
		}
		same := h == prev
		prev, s.last = h, h
		q := off + pat.size
		if q > len(p) || p[off+8] != pat.key || p[off+9+int(pat.key)] != pat.ns || p[off+10+int(pat.key)+int(pat.ns)] != pat.value {
			if q, pat = entryEnd(p, off); q < 0 {
				return s, blockErrorf(ErrInconsistent, "bad entry length in block payload")
			}
		}
		switch {
		case h < lo:
			s.start = q
		case h <= hi:
			if s.n > 0 && same {
				s.distinct = false
			}
			s.offs = append(s.offs, uint32(off-s.start))
			s.end = q
			s.n++
		default:
			s.past = true
			return s, nil
		}
		off = q
	}
	if off != len(p) {
		return s, blockErrorf(ErrInconsistent, "%d unexpected bytes after the last entry of the block", len(p)-off)
	}
	if s.last != last {
		return s, blockErrorf(ErrInconsistent, "block's last entry has hash %016x, the index says %016x", s.last, last)
	}
	return s, nil
}

// lengths is the shape of an entry whose three lengths are one-byte
// varints (each below 0x80): the lengths, and the entry's whole size.
type lengths struct {
	key, ns, value byte
	size           int
}

// entryEnd returns where the entry at p[off:] ends (its hash already read),
// or -1 if its lengths are not canonical varints or overrun p; and its
// shape, if its lengths are one byte each, for scanBlock's next guess (the
// shape of an entry of empty fields otherwise, which is always safe to
// guess).
func entryEnd(p []byte, off int) (int, lengths) {
	var l [3]uint64
	q := off + 8
	for j := range l {
		if q >= len(p) {
			return -1, lengths{size: minEntrySize}
		}
		n, k := uint64(p[q]), 1
		if n >= 0x80 {
			if n, k = binary.Uvarint(p[q:]); k <= 0 || p[q+k-1] == 0 {
				return -1, lengths{size: minEntrySize}
			}
		}
		q += k
		if n > uint64(len(p)-q) {
			return -1, lengths{size: minEntrySize}
		}
		q += int(n)
		l[j] = n
	}
	if l[0] >= 0x80 || l[1] >= 0x80 || l[2] >= 0x80 {
		return q, lengths{size: minEntrySize}
	}
	return q, lengths{key: byte(l[0]), ns: byte(l[1]), value: byte(l[2]), size: q - off}
}
