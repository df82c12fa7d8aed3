//go:build !(linux && (amd64 || arm64))

package format

import "testing"

// dropCache cannot drop cached pages on this platform.
func dropCache(b *testing.B, _ string) { b.Skip("cold reads need posix_fadvise") }
