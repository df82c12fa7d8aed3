//go:build !linux

package hashmap_test

import "slices"

// readOnly returns a copy of b and a value to keep with it; where memory is
// not mapped by the tests, the copy is ordinary memory.
func readOnly(b []byte) (ro []byte, keep any) {
	return slices.Clip(slices.Clone(b)), new(int)
}
