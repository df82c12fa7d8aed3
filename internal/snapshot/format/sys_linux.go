//go:build linux && (amd64 || arm64)

package format

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the byte range to disk
// without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that the final
// fsync of a large data file has little left to do.
func startWriteback(f *os.File, off, n int64) {
	withFd(f, func(fd int) { _ = unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE) })
}

// dropWritten waits until the byte range has been written to disk and
// drops it from the page cache (sync_file_range, then fadvise DONTNEED).
func dropWritten(f *os.File, off, n int64) {
	withFd(f, func(fd int) {
		if unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER) == nil {
			_ = unix.Fadvise(fd, off, n, unix.FADV_DONTNEED)
		}
	})
}

// willNeed asks the kernel to start reading the byte range into the page
// cache without waiting (fadvise WILLNEED), so that a reader's next reads
// find it there.
func willNeed(f *os.File, off, n int64) {
	withFd(f, func(fd int) { _ = unix.Fadvise(fd, off, n, unix.FADV_WILLNEED) })
}

// withFd calls fn with f's descriptor, if f has one.
func withFd(f *os.File, fn func(fd int)) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { fn(int(fd)) })
	}
}

// mapFile maps the n bytes of f at offset off read-only into memory, from
// the page that holds off; the mapping is unmapped once it is garbage.
func mapFile(f *os.File, off, n int64) (*mapping, error) {
	page := int64(os.Getpagesize())
	start := off / page * page
	var (
		b   []byte
		err error
	)
	withFd(f, func(fd int) { b, err = unix.Mmap(fd, start, int(off-start+n), unix.PROT_READ, unix.MAP_SHARED) })
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errNoMapping
	}
	m := &mapping{b: b[off-start:], off: uint64(off)}
	liveMappings.Add(1)
	runtime.AddCleanup(m, func(b []byte) {
		_ = unix.Munmap(b)
		liveMappings.Add(-1)
	}, b)
	return m, nil
}
