//go:build linux

package bench

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canEvict reports whether evict really drops pages from the page cache.
const canEvict = true

// evict drops f's pages from the page cache, so that the next read of the
// file comes from the disk. FADV_DONTNEED only drops clean pages, so the file
// is fdatasync'd first (a no-op for a file that is already synced).
func evict(f *os.File) error {
	fd := int(f.Fd())
	if err := unix.Fdatasync(fd); err != nil {
		return err
	}
	return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
}

// residentBytes returns how many bytes of the file at path are in the page
// cache, counted in pages (mincore), or -1 if that is unknown.
func residentBytes(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() == 0 {
		return 0, nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (st.Size()+page-1)/page)
	// x/sys has no Linux wrapper for mincore(2).
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, e
	}
	var n int64
	for _, v := range vec {
		if v&1 != 0 {
			n += page
		}
	}
	return min(n, st.Size()), nil
}

// freshMemory returns MB/s of faulting in size bytes of memory the process
// has never used (an anonymous mapping, one write per page), the cost a
// restore pays for the memory that holds the state. On a virtual machine
// whose host backs guest memory only when it is first touched, this can be
// slower than the disk.
func freshMemory(size int64) (float64, error) {
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return 0, err
	}
	defer func() { _ = unix.Munmap(b) }()
	page := os.Getpagesize()
	start := time.Now()
	for i := 0; i < len(b); i += page {
		b[i] = 1
	}
	return mbps(size, time.Since(start)), nil
}
