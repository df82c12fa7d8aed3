package format

import (
	"errors"
	"sync/atomic"
)

// mapping is a read-only memory mapping of part of a data file (Mapped).
// It is unmapped by a cleanup once it is garbage, so every slice of it must
// be held together with it (backend.Run.Keep).
type mapping struct {
	b   []byte
	off uint64 // the file offset of b[0]
}

// at returns the n bytes at file offset off, which lie in the mapping.
func (m *mapping) at(off, n uint64) []byte {
	i := off - m.off
	return m.b[i : i+n : i+n]
}

// errNoMapping is mapFile's error where files are not mapped.
var errNoMapping = errors.New("format: files are not mapped on this platform")

// liveMappings counts the mappings not unmapped yet.
var liveMappings atomic.Int64
