//go:build linux && (amd64 || arm64)

package format

import (
	"errors"
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

// setDirect turns direct I/O (O_DIRECT) on or off for f and reports whether
// it could. File systems without direct I/O (older tmpfs, some FUSE ones)
// refuse to turn it on.
func setDirect(f *os.File, on bool) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		flags, err := fcntl(fd, syscall.F_GETFL, 0)
		if err != nil {
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		_, err = fcntl(fd, syscall.F_SETFL, flags)
		ok = err == nil
	})
	return ok
}

func fcntl(fd uintptr, cmd, arg int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, uintptr(cmd), uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// isDirectRefused reports whether a write failed because the file system
// does not take direct I/O for it.
func isDirectRefused(err error) bool {
	return errors.Is(err, syscall.EINVAL)
}
