package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMalformedSplit is wrapped by the errors of a line source reader given
// split bytes it cannot decode: bytes that were not produced by
// [LineSource.Splits] or a reader's SnapshotSplits, or that were produced by
// a newer release.
var ErrMalformedSplit = errors.New("file: malformed split")

// splitVersion is the first byte of every encoded split. See the package
// documentation for the format.
const splitVersion = 1

// split is one file of a line source and the byte offset of the next line
// to read from it.
type split struct {
	path   string
	offset int64
}

// appendSplit appends the encoding of sp to b.
func appendSplit(b []byte, sp split) []byte {
	b = append(b, splitVersion)
	b = binary.AppendUvarint(b, uint64(len(sp.path)))
	b = append(b, sp.path...)
	return binary.AppendUvarint(b, uint64(sp.offset))
}

// decodeSplit decodes a split encoded by appendSplit.
func decodeSplit(b []byte) (split, error) {
	bad := func(format string, args ...any) (split, error) {
		return split{}, fmt.Errorf("%w: "+format, append([]any{ErrMalformedSplit}, args...)...)
	}
	if len(b) == 0 {
		return bad("empty")
	}
	if b[0] != splitVersion {
		return bad("version %d, this build reads version %d", b[0], splitVersion)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return bad("bad path length")
	}
	b = b[k:]
	if n == 0 {
		return bad("empty path")
	}
	if n > uint64(len(b)) {
		return bad("path length %d exceeds the %d bytes left", n, len(b))
	}
	path := string(b[:n])
	b = b[n:]
	off, k := binary.Uvarint(b)
	if k <= 0 {
		return bad("bad offset of %q", path)
	}
	if off > math.MaxInt64 {
		return bad("offset %d of %q out of range", off, path)
	}
	if len(b) != k {
		return bad("%d trailing bytes after the split of %q", len(b)-k, path)
	}
	return split{path: path, offset: int64(off)}, nil
}
