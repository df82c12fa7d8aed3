//go:build linux && (amd64 || arm64)

package format

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing the byte range to disk
// without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that the final
// fsync of a large data file has little left to do.
func startWriteback(f *os.File, off, n int64) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			const syncFileRangeWrite = 2
			_ = syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
		})
	}
}
