package format

import (
	"errors"
	"os"
	"sync/atomic"
	"unsafe"
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

// faultAt returns the file offset of the fault that p, a recovered panic
// value, reports if it lies in m (debug.SetPanicOnFault).
func (m *mapping) faultAt(p any) (int64, bool) {
	f, ok := p.(interface{ Addr() uintptr })
	if !ok || len(m.b) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.b)))
	// The mapping starts at the page holding b[0]: a fault may lie a
	// little before it.
	page := uintptr(os.Getpagesize())
	if a := f.Addr(); a >= base&^(page-1) && a < base+uintptr(len(m.b)) {
		return int64(m.off) + max(int64(a)-int64(base), 0), true
	}
	return 0, false
}

// errNoMapping is mapFile's error where files are not mapped.
var errNoMapping = errors.New("format: files are not mapped on this platform")

// liveMappings counts the mappings not unmapped yet.
var liveMappings atomic.Int64
