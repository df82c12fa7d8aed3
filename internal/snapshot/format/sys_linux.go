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

// syncData makes the file's data durable (fdatasync).
func syncData(f *os.File) error {
	var err error
	withFd(f, func(fd int) { err = unix.Fdatasync(fd) })
	return err
}

// dropCache drops the byte range (to the end of the file if n is 0) from
// the page cache (fadvise DONTNEED); pages not yet written back stay.
func dropCache(f *os.File, off, n int64) {
	withFd(f, func(fd int) { _ = unix.Fadvise(fd, off, n, unix.FADV_DONTNEED) })
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
