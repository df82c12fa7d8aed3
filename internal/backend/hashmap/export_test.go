package hashmap

// StoredElements returns the number of list elements t holds in memory,
// expired or not.
func StoredElements[K, N comparable, V any](t *List[K, N, V]) int {
	decodeAll(&t.st)
	n := 0
	t.st.shards(func(sh *shard[nsKey[K, N], []entry[V]]) {
		for _, l := range sh.m {
			n += len(l)
		}
	})
	return n
}

// StoredEntries returns the number of map entries t holds in memory, expired
// or not.
func StoredEntries[K, N, UK comparable, UV any](t *Map[K, N, UK, UV]) int {
	decodeAll(&t.st)
	n := 0
	t.st.shards(func(sh *shard[nsKey[K, N], map[UK]entry[UV]]) {
		for _, m := range sh.m {
			n += len(m)
		}
	})
	return n
}

// Shards returns the number of shards t's entries are spread over.
func Shards[K, N comparable, V any](t *Value[K, N, V]) int {
	n := 0
	t.st.shards(func(*shard[nsKey[K, N], *entry[V]]) { n++ })
	return n
}

// decodeAll decodes the raw entries of every shard of s.
func decodeAll[KK comparable, E any](s *store[KK, E]) {
	var raw []*shard[KK, E]
	s.shards(func(sh *shard[KK, E]) {
		if sh.raw != nil {
			raw = append(raw, sh)
		}
	})
	for _, sh := range raw {
		if err := s.materialize(sh); err != nil {
			panic(err)
		}
	}
}

// RawBytes returns the bytes of raw entries t holds, and how many of them
// lie in mappings (backend.Run.Keep) rather than in copies.
func RawBytes[K, N comparable, V any](t *Value[K, N, V]) (total, mapped int) {
	t.st.shards(func(sh *shard[nsKey[K, N], *entry[V]]) {
		if r := sh.raw; r != nil {
			total += r.size()
			mapped += r.mappedBytes
		}
	})
	return total, mapped
}
