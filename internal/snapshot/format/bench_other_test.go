//go:build !(linux && (amd64 || arm64))

package format

import (
	"testing"
	"time"
)

// threadCPU cannot tell a thread's CPU time on this platform.
func threadCPU() (time.Duration, bool) { return 0, false }

// evictDir cannot drop cached pages on this platform.
func evictDir(b *testing.B, _ string) { b.Skip("cold reads need posix_fadvise") }

// cachedBytes cannot tell what is cached on this platform.
func cachedBytes(*testing.T, string) (int64, bool) { return 0, false }
