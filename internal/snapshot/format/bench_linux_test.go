//go:build linux && (amd64 || arm64)

package format

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dropCache asks the kernel to forget the cached pages of the files in dir
// (they are clean: written and fsync'd), so reads come from the disk.
func dropCache(b *testing.B, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		const fadvDontNeed = 4
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
		_ = f.Close()
	}
}
