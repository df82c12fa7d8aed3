package hashmap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault asks the kernel to back b's pages with memory now, in one call
// (MADV_POPULATE_WRITE, Linux 5.14 and later), instead of one page fault
// per 4 KiB page as they are first written. The contents do not change. A
// restore fills its raw buffers right after allocating them, and when the
// heap takes them fresh from the OS (a job restored in a new process), the
// faults are most of its cost. Measured on the development VM: 1 GiB
// faulted in at 279–291 MB/s page by page and at 533–561 MB/s this way;
// the 1 GB restore of 1 KB values in a new process took 2.20–2.21 s
// without it and 1.37–1.57 s with it (BENCHMARKS.md). The whole capacity
// is backed, so a buffer's unused headroom (rawArena.grow sizes it to what
// the reserve expects, plus three standard deviations) counts in the
// process's memory from the start. Errors (an older kernel) are ignored:
// the pages then fault in as they are written.
func prefault(b []byte) {
	const page = 4096
	if cap(b) < 2*page {
		return
	}
	b = b[:cap(b)]
	start := (int(-uintptr(unsafe.Pointer(unsafe.SliceData(b)))) & (page - 1))
	end := start + (len(b)-start)&^(page-1)
	_ = unix.Madvise(b[start:end], unix.MADV_POPULATE_WRITE)
}
