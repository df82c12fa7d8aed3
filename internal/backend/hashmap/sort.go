package hashmap

import (
	"bytes"
	"slices"
)

func sortKVs[T any](s []T, key func(T) []byte) {
	slices.SortFunc(s, func(a, b T) int { return bytes.Compare(key(a), key(b)) })
}
