//go:build !linux

package hashmap

// prefault does nothing where the kernel has no MADV_POPULATE_WRITE.
func prefault([]byte) {}
