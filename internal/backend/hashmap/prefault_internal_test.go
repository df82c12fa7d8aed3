package hashmap

import "testing"

// TestPrefaultKeepsContents: prefaulting is a hint; what a buffer holds,
// written before or after, is unchanged, at any alignment and length.
func TestPrefaultKeepsContents(t *testing.T) {
	for _, n := range []int{0, 100, 8191, 1 << 20, 3<<20 + 5} {
		for _, off := range []int{0, 1, 4095} {
			b := make([]byte, n+off)[off:]
			for i := range b {
				b[i] = byte(i*7 + 1)
			}
			prefault(b)
			for i := range b {
				if b[i] != byte(i*7+1) {
					t.Fatalf("len %d, offset %d: byte %d changed", n, off, i)
				}
			}
			fresh := make([]byte, n)
			prefault(fresh)
			for i, c := range fresh {
				if c != 0 {
					t.Fatalf("len %d: byte %d of a new buffer is %d after prefault", n, i, c)
				}
			}
		}
	}
}
