package hashmap

// StoredElements returns the number of list elements t holds in memory,
// expired or not.
func StoredElements[K, N comparable, V any](t *List[K, N, V]) int {
	n := 0
	for _, l := range t.m {
		n += len(l)
	}
	return n
}

// StoredEntries returns the number of map entries t holds in memory, expired
// or not.
func StoredEntries[K, N, UK comparable, UV any](t *Map[K, N, UK, UV]) int {
	n := 0
	for _, m := range t.m {
		n += len(m)
	}
	return n
}
