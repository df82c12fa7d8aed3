package hashmap_test

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// readOnly returns a copy of b in read-only memory of its own, as a file
// mapping gives a restore (backend.Run.Keep), and the value that keeps it
// mapped: the memory is unmapped once keep is garbage.
func readOnly(b []byte) (ro []byte, keep any) {
	m, err := unix.Mmap(-1, 0, max(len(b), 1), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		panic(err)
	}
	copy(m, b)
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		panic(err)
	}
	k := &struct{ m []byte }{m}
	runtime.AddCleanup(k, func(m []byte) { _ = unix.Munmap(m) }, m)
	return m[:len(b):len(b)], k
}
