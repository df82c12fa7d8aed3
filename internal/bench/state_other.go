//go:build !linux

package bench

import "os"

// canEvict reports whether evict really drops pages from the page cache: it
// does not here, so "cold" reads may be served from the cache.
const canEvict = false

// evict is a no-op where fadvise is not available.
func evict(*os.File) error { return nil }

// residentBytes returns -1: page-cache residency is not known here.
func residentBytes(string) (int64, error) { return -1, nil }

// freshMemory returns -1: faulting in fresh memory is not measured here.
func freshMemory(int64) (float64, error) { return -1, nil }
