package hashmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/weirstream/weir/internal/backend"
)

// A table's entries live in shards chosen by the top bits of the key's
// stable hash (extendible hashing): a directory of 2^depth slots points at
// shards, and a shard of local depth d owns the 2^(depth-d) consecutive slots
// that share its d-bit hash prefix. A shard that grows past its limit splits
// in two by its next hash bit, so no shard holds more than a few thousand
// entries (unless they share one hash), and walking the directory visits the
// shards in hash order.
//
// Shards are what make snapshots cheap for the task. A capture (at a
// checkpoint barrier) only marks every shard as pending for it: O(shards),
// microseconds even for gigabytes of state. The snapshot's writer then
// encodes the shards on its own goroutine, one at a time under the shard's
// lock, while the task goes on. If the task is about to modify a shard that
// is still pending, it encodes that shard for the capture first (settles it)
// and then writes: so every shard is encoded exactly once per capture, as it
// was at the barrier, by whichever goroutine gets there first, and the
// task's pause is bounded by the encoding of one shard.
//
// Reads of a pending shard need nothing: Go maps may be read concurrently.
// Every path that modifies a shard's map, or a value reachable from it, goes
// through store.writable first.
//
// A restore does not decode what it loads. Entries arrive in canonical
// encoding, sorted by hash, and each is appended as it is to its shard's raw
// entries; the shard decodes them into its map the first time the task
// touches it (store.at), at most a few thousand entries at a time. Restoring
// thus costs at most a copy per entry, and a snapshot of a shard never
// touched since copies its raw entries instead of encoding them. Raw
// entries are never changed once loaded, so a capture may read them while
// the task decodes.
//
// Runs that lie in a file mapping (backend.Run.Keep) are not even copied:
// the shard keeps them where they are, with the mapping, until it decodes
// them, so a restore touches no memory but the file's pages in the page
// cache. Only tables whose serializers copy what they read do so
// (keepsMapped): a value decoded from a mapping must not point into it.

const (
	// shardLimit is the number of entries above which a shard splits.
	shardLimit = 4096
	// maxDepth bounds the directory at 2^maxDepth slots; shards of maximal
	// depth grow without splitting.
	maxDepth = 16
)

// store holds a table's entries, by key KK, in shards.
type store[KK comparable, E any] struct {
	dir   []*shard[KK, E]
	depth uint8
	// hash returns the stable hash of an entry key's partitioning key.
	hash func(KK) uint64
	// encode appends the live entries of m at processing time now to out,
	// unsorted.
	encode func(out *encoded, m map[KK]E, now int64)
	// decode adds the entry e, restored at processing time now, to m, the
	// map of the shard with id sid.
	decode func(m map[KK]E, sid int32, e backend.Entry, now int64) error
	// expiresAt returns the expiry of an entry written at processing time
	// now (0: never); raw entries expire together, from their restore.
	expiresAt func(now int64) int64
	// sweepAt is the directory slot the next TTL sweep examines.
	sweepAt int
	// rawMem holds the raw entries of restored shards; rawBytes and
	// rawEntryCnt count what was restored raw, for the expected entry size.
	rawMem                rawArena
	rawBytes, rawEntryCnt int
	// shardIDs counts the shard ids handed out.
	shardIDs int32
	// probe, if set, decodes a restored entry without keeping it (see
	// check); otherwise check decodes into scratch.
	probe   func(backend.Entry) error
	scratch map[KK]E
	// keepsMapped is set when the table's serializers copy what they read
	// (copies), so that a restore may keep entries in the file mappings
	// they come in (backend.Run.Keep): nothing decoded from them can then
	// point into a mapping. Without it, a restore decodes only copies: of
	// the run, in raw entries, or of the entry (cloneEntry).
	keepsMapped bool
}

type shard[KK comparable, E any] struct {
	m map[KK]E // nil until the first entry
	// hint is the size to make m with, set by a reserve: the map is made
	// only when its first entry comes, so that a restore fills it while it
	// is still in the cache.
	hint int
	// raw holds restored entries not decoded yet; see store.restore.
	raw    *rawEntries
	depth  uint8
	prefix uint64 // the top depth bits of every hash in the shard
	// id names the shard to its table, which keeps the memory of the
	// shard's entries apart from other shards' (so that a snapshot walks
	// them in a few pages, not all over the heap). The lower half of a
	// split keeps its parent's id.
	id int32
	// limit is the size above which the shard splits; it doubles when a
	// split would not separate anything (every entry has the same hash).
	limit int
	// slot is the shard's index in the capture it is pending for; written
	// and read by the task only.
	slot int
	// pending is the capture waiting for this shard's contents, if any.
	pending atomic.Pointer[capture[KK, E]]
	// mu is held while the shard is encoded for a capture.
	mu sync.Mutex
}

func newStore[KK comparable, E any](hash func(KK) uint64, encode func(*encoded, map[KK]E, int64), decode func(map[KK]E, int32, backend.Entry, int64) error, expiresAt func(int64) int64) store[KK, E] {
	return store[KK, E]{
		dir:       []*shard[KK, E]{{limit: shardLimit}},
		shardIDs:  1,
		hash:      hash,
		encode:    encode,
		decode:    decode,
		expiresAt: expiresAt,
	}
}

// at returns the shard holding hash h, for reading, with any raw entries
// decoded. A raw entry that cannot be decoded (which the checksums and the
// serializer checks of a restore make a bug) panics, failing the task.
func (s *store[KK, E]) at(h uint64) *shard[KK, E] {
	sh := s.dir[h>>(64-uint(s.depth))]
	if sh.raw != nil {
		if err := s.materialize(sh); err != nil {
			panic(err)
		}
		sh = s.dir[h>>(64-uint(s.depth))] // it may have split
	}
	return sh
}

// rawLimit is the number of raw entries above which a restore decodes a
// shard at once: a table restored without Reserve then still grows by
// splits, and no first touch has more than this to decode.
const rawLimit = 2 * shardLimit

// restore loads e, restored at processing time now, into its shard: as a
// raw entry, or decoded if the shard already holds decoded entries or is
// pending for a capture.
func (s *store[KK, E]) restore(e backend.Entry, now int64) error {
	sh := s.dir[e.Hash>>(64-uint(s.depth))]
	if s.takesRaw(sh) && (sh.raw == nil || !sh.raw.dup(e)) {
		if sh.raw == nil || sh.raw.n == 0 {
			if err := s.check(e, sh.id, now); err != nil {
				return err
			}
		}
		r, n := s.rawOf(sh, now), backend.EncodedLen(e)
		if r.mapped {
			r.seal()
		}
		s.rawMem.grow(r, n, max(sh.hint-r.n-1, 0), s.avgRaw(n))
		r.prev = len(r.buf)
		r.buf = backend.AppendEncoded(r.buf, e)
		r.n++
		s.rawBytes += n
		s.rawEntryCnt++
		return nil
	}
	if err := s.materialize(sh); err != nil {
		return err
	}
	if !s.keepsMapped {
		// What decode reads may point into e, which is valid only
		// during the restore's call.
		e = cloneEntry(e)
	}
	sh = s.writable(e.Hash)
	if err := s.decode(sh.m, sh.id, e, now); err != nil {
		return err
	}
	s.grown(sh)
	return nil
}

// ErrUndecodable is returned by a restore when the entry it decodes as a
// check (see store.check) does not decode with the table's serializers.
// Entries that fail to decode elsewhere (at a shard's first use, or when a
// restore decodes a shard at once) give errors that do not wrap it.
var ErrUndecodable = errors.New("the job's serializers cannot decode the restored state")

// check decodes e, an entry a restore is about to keep raw for the shard
// with id sid, and drops it. Raw entries are decoded only when their shard
// is first used, long after the restore; checking the first entry of each
// raw piece turns a serializer that cannot read the snapshot (a custom one
// whose encoding changed, which its schema cannot show) into a restore
// error instead of a failure of the running job.
func (s *store[KK, E]) check(e backend.Entry, sid int32, now int64) error {
	var err error
	if s.probe != nil {
		err = s.probe(e)
	} else {
		if s.scratch == nil {
			s.scratch = map[KK]E{}
		}
		err = s.decode(s.scratch, sid, e, now)
		clear(s.scratch)
	}
	if err != nil {
		return fmt.Errorf("%w: %w (a custom serializer whose encoding changes must give its schema a new version, serde.Snapshotter, so that the restore's schema check names the change)", ErrUndecodable, err)
	}
	return nil
}

// takesRaw reports whether a restore may add raw entries to sh.
func (s *store[KK, E]) takesRaw(sh *shard[KK, E]) bool {
	return len(sh.m) == 0 && sh.pending.Load() == nil && (sh.raw == nil || sh.raw.n < rawLimit)
}

// rawOf returns sh's raw entries, starting them at processing time now.
func (s *store[KK, E]) rawOf(sh *shard[KK, E], now int64) *rawEntries {
	if sh.raw == nil {
		sh.raw = &rawEntries{at: now}
	}
	return sh.raw
}

// avgRaw is the expected size of a raw entry: the mean so far, or n.
func (s *store[KK, E]) avgRaw(n int) int {
	if s.rawEntryCnt == 0 {
		return n
	}
	return s.rawBytes/s.rawEntryCnt + 1
}

// restoreRun loads a run of n encoded entries (backend.RunRestorer) at
// processing time now: the entries of one shard go to its raw entries in
// one piece, copied, or kept in their mapping (addRaw). Entries with the
// hash, key and namespace of the one before them (which weir never writes,
// but the format allows) are merged as a decoded restore merges them, by
// decoding their shard.
func (s *store[KK, E]) restoreRun(run backend.Run, now int64) error {
	keep := run.Keep
	if !s.keepsMapped {
		keep = nil
	}
	if run.Offsets == nil {
		return s.restoreMeasured(run.Bytes, run.N, keep, now)
	}
	if len(run.Offsets) != run.N {
		return fmt.Errorf("%w: %d offsets for %d entries", backend.ErrBadRun, len(run.Offsets), run.N)
	}
	return s.restoreIndexed(run.Bytes, run.Offsets, run.Distinct, keep, now)
}

// addRaw appends piece, k whole entries of sh of which the last starts at
// last, to sh's raw entries r: as a piece of its own if it lies in the
// mapping keep, copied into the arena if keep is nil.
func (s *store[KK, E]) addRaw(sh *shard[KK, E], r *rawEntries, piece []byte, k, last int, keep any) {
	if keep != nil {
		s.rawMem.detach(r)
		r.addMapped(piece, last, keep)
	} else {
		if r.mapped {
			r.seal()
		}
		s.rawMem.grow(r, len(piece), max(sh.hint-r.n-k, 0), s.avgRaw(len(piece)/k))
		r.prev = len(r.buf) + last
		r.buf = append(r.buf, piece...)
	}
	r.n += k
	s.rawBytes += len(piece)
	s.rawEntryCnt += k
}

// restoreMeasured is restoreRun for a run without offsets: it measures
// every entry to find where one shard's entries end.
func (s *store[KK, E]) restoreMeasured(run []byte, n int, keep any, now int64) error {
	got := 0 // entries restored
	for len(run) > 0 {
		if len(run) < 8 {
			return backend.ErrBadRun
		}
		shift := 64 - uint(s.depth)
		sh := s.dir[binary.LittleEndian.Uint64(run)>>shift]
		if !s.takesRaw(sh) {
			e, rest, err := backend.NextEncoded(run)
			if err != nil {
				return err
			}
			if err := s.restore(e, now); err != nil {
				return err
			}
			run = rest
			got++
			continue
		}
		// The entries that belong to sh, up to the raw limit or a
		// duplicate. They are measured, not decoded: a duplicate has the
		// hash of the entry before it, and only then are both decoded.
		r := s.rawOf(sh, now)
		end, k, prev := 0, 0, -1
		dup := false
		for end < len(run) && r.n+k < rawLimit {
			e := run[end:]
			if len(e) < 8 {
				break
			}
			h := binary.LittleEndian.Uint64(e)
			if s.dir[h>>shift] != sh {
				break
			}
			size := backend.MeasureEncoded(e)
			if size == 0 {
				return backend.ErrBadRun
			}
			if k == 0 && r.dupEncoded(e) || k > 0 && h == binary.LittleEndian.Uint64(run[prev:]) && sameEncodedKey(run[prev:], e) {
				dup = true
				break
			}
			prev = end
			end += size
			k++
		}
		if k > 0 {
			e, _, err := backend.NextEncoded(run)
			if err != nil {
				return err
			}
			if err := s.check(e, sh.id, now); err != nil {
				return err
			}
			s.addRaw(sh, r, run[:end], k, prev, keep)
			got += k
			run = run[end:]
		}
		if dup {
			// Decode the shard: the duplicate then merges on the
			// slow path.
			if err := s.materialize(sh); err != nil {
				return err
			}
		}
	}
	if got != n {
		return fmt.Errorf("%w: it holds %d entries, not the %d announced", backend.ErrBadRun, got, n)
	}
	return nil
}

// restoreIndexed is restoreRun for a run whose entries start at offs (see
// backend.Run): where a shard's entries end is found by a binary search on
// the hashes at the offsets, and, unless distinct, only consecutive
// entries with equal hashes are compared, so no entry is measured but the
// last. The offsets are trusted to be those of a checked reader: their
// order and bounds are checked, not that each starts an entry.
func (s *store[KK, E]) restoreIndexed(run []byte, offs []uint32, distinct bool, keep any, now int64) error {
	n := len(offs)
	if n == 0 {
		if len(run) != 0 {
			return fmt.Errorf("%w: %d bytes and no entry", backend.ErrBadRun, len(run))
		}
		return nil
	}
	// What is cheap to check: the offsets start at 0 and ascend, and the
	// last entry ends the run. Every offset then lies at least a whole
	// entry's size before the end, so every hash read below is in the run.
	if offs[0] != 0 {
		return fmt.Errorf("%w: the first entry starts at %d", backend.ErrBadRun, offs[0])
	}
	for x := 1; x < n; x++ {
		if offs[x] <= offs[x-1] {
			return fmt.Errorf("%w: entry %d starts at %d, entry %d at %d", backend.ErrBadRun, x-1, offs[x-1], x, offs[x])
		}
	}
	if last := int(offs[n-1]); last >= len(run) || backend.MeasureEncoded(run[last:]) != len(run)-last {
		return fmt.Errorf("%w: the last entry, at %d, does not end the run of %d bytes", backend.ErrBadRun, last, len(run))
	}
	hashAt := func(x int) uint64 { return binary.LittleEndian.Uint64(run[offs[x]:]) }
	for i := 0; i < n; {
		off := int(offs[i])
		h := hashAt(i)
		shift := 64 - uint(s.depth)
		sh := s.dir[h>>shift]
		if !s.takesRaw(sh) {
			e, _, err := backend.NextEncoded(run[off:])
			if err != nil {
				return err
			}
			if err := s.restore(e, now); err != nil {
				return err
			}
			i++
			continue
		}
		r := s.rawOf(sh, now)
		if r.dupEncoded(run[off:]) {
			// Decode the shard: the entry then merges on the slow path.
			if err := s.materialize(sh); err != nil {
				return err
			}
			continue
		}
		// sh's entries are those up to the first whose hash lies in
		// another shard: hashes ascend, and a shard's hashes are one
		// interval.
		lim := min(n, i+rawLimit-r.n)
		j := i + 1 + sort.Search(lim-i-1, func(x int) bool { return s.dir[hashAt(i+1+x)>>shift] != sh })
		dup := false
		if !distinct {
			for x, prev := i+1, h; x < j; x++ {
				hx := hashAt(x)
				if hx == prev && sameEncodedKey(run[offs[x-1]:], run[offs[x]:]) {
					j, dup = x, true
					break
				}
				prev = hx
			}
		}
		end := len(run)
		if j < n {
			end = int(offs[j])
		}
		e, _, err := backend.NextEncoded(run[off:end])
		if err != nil {
			return err
		}
		if err := s.check(e, sh.id, now); err != nil {
			return err
		}
		s.addRaw(sh, r, run[off:end], j-i, int(offs[j-1])-off, keep)
		i = j
		if dup {
			if err := s.materialize(sh); err != nil {
				return err
			}
		}
	}
	return nil
}

// materialize decodes sh's raw entries into its map, after settling any
// capture pending on it (which takes them as they are).
func (s *store[KK, E]) materialize(sh *shard[KK, E]) error {
	if sh.raw == nil {
		return nil
	}
	settled(sh)
	raw := sh.raw
	sh.raw = nil
	if sh.m == nil {
		sh.m = make(map[KK]E, max(sh.hint, raw.n))
	}
	m := sh.m
	if err := raw.each(func(e backend.Entry) error { return s.decode(m, sh.id, e, raw.at) }); err != nil {
		return fmt.Errorf("restored state: %w", err)
	}
	s.grown(sh)
	return nil
}

// get returns the entry under k, whose key hashes to h.
func (s *store[KK, E]) get(h uint64, k KK) (E, bool) {
	e, ok := s.at(h).m[k]
	return e, ok
}

// writable returns the shard holding hash h after settling any capture
// pending on it, with its map allocated: the caller may now modify it.
// Callers that add entries call grown afterwards.
func (s *store[KK, E]) writable(h uint64) *shard[KK, E] {
	sh := settled(s.at(h))
	if sh.m == nil {
		sh.m = make(map[KK]E, sh.hint)
	}
	return sh
}

// grown splits sh if it has outgrown its limit. sh must be writable.
func (s *store[KK, E]) grown(sh *shard[KK, E]) {
	if len(sh.m) > sh.limit && sh.depth < maxDepth {
		s.split(sh)
	}
}

// settle encodes the shard for the capture pending on it, unless that
// capture was released, and clears it.
func (sh *shard[KK, E]) settle() {
	sh.mu.Lock()
	defer sh.mu.Unlock() // a panicking serializer must not leave it locked
	if c := sh.pending.Load(); c != nil {
		if !c.released.Load() {
			// The task's scratch goes from one settled shard to the
			// next, not with the encoding it made.
			out := &c.out[sh.slot]
			out.scratch, out.counts = c.taskScratch, c.taskCounts
			c.encodeShard(out, sh)
			c.taskScratch, c.taskCounts = out.scratch, out.counts
			out.scratch, out.counts = nil, nil
		}
		sh.pending.Store(nil)
	}
}

// settled returns sh after settling any capture pending on it.
func settled[KK comparable, E any](sh *shard[KK, E]) *shard[KK, E] {
	if sh.pending.Load() != nil {
		sh.settle()
	}
	return sh
}

// split divides sh (settled) in two by its next hash bit.
func (s *store[KK, E]) split(sh *shard[KK, E]) {
	bit := 63 - uint(sh.depth)
	lo := &shard[KK, E]{depth: sh.depth + 1, prefix: sh.prefix << 1, limit: shardLimit, m: make(map[KK]E, len(sh.m)/2), id: sh.id}
	hi := &shard[KK, E]{depth: sh.depth + 1, prefix: sh.prefix<<1 | 1, limit: shardLimit, m: make(map[KK]E, len(sh.m)/2)}
	var first uint64
	same, n := true, 0
	for k, e := range sh.m {
		h := s.hash(k)
		if n == 0 {
			first = h
		} else if h != first {
			same = false
		}
		n++
		if h>>bit&1 == 0 {
			lo.m[k] = e
		} else {
			hi.m[k] = e
		}
	}
	if same {
		// No bit separates entries of one hash: grow instead.
		sh.limit *= 2
		return
	}
	hi.id = s.newID()
	if sh.depth == s.depth {
		dir := make([]*shard[KK, E], 2*len(s.dir))
		for i, x := range s.dir {
			dir[2*i], dir[2*i+1] = x, x
		}
		s.dir = dir
		s.depth++
	}
	span := 1 << (s.depth - sh.depth)
	start := int(sh.prefix) << (s.depth - sh.depth)
	for i := start; i < start+span/2; i++ {
		s.dir[i] = lo
	}
	for i := start + span/2; i < start+span; i++ {
		s.dir[i] = hi
	}
}

// reserve prepares the store for about n entries whose hashes are spread
// evenly over [lo, hi] (a restore): it deepens the directory so that each
// shard in that range gets about half its limit, with presized maps, and
// covers the rest of the hash space with as few shards as the directory
// allows. It does nothing unless the store is empty.
func (s *store[KK, E]) reserve(n int, lo, hi uint64) {
	if n <= 0 || s.len() > 0 || hi < lo {
		return
	}
	width := float64(hi-lo) + 1
	density := float64(n) / width * (1 << 64) // entries over the whole hash space
	depth := uint8(0)
	for depth < maxDepth && density/float64(uint64(1)<<depth) > shardLimit/2 {
		depth++
	}
	if depth <= s.depth {
		return
	}
	// A shard splits past its limit anyway: presizing beyond it would only
	// let a corrupt entry count allocate without bound.
	per := min(int(density/float64(uint64(1)<<depth)), n, shardLimit)
	shift := 64 - uint(depth)
	loSlot, hiSlot := int(lo>>shift), int(hi>>shift)
	s.depth = depth
	s.dir = make([]*shard[KK, E], 1<<depth)
	s.cover(0, loSlot)
	for i := loSlot; i <= hiSlot; i++ {
		s.dir[i] = &shard[KK, E]{depth: depth, prefix: uint64(i), limit: shardLimit, hint: per, id: s.newID()}
	}
	s.cover(hiSlot+1, len(s.dir))
}

// cover points the directory slots [from, to) at new empty shards, each
// covering the largest aligned block of slots it can.
func (s *store[KK, E]) cover(from, to int) {
	for from < to {
		size := 1
		for from%(2*size) == 0 && from+2*size <= to {
			size *= 2
		}
		d := s.depth
		for b := size; b > 1; b /= 2 {
			d--
		}
		sh := &shard[KK, E]{depth: d, prefix: uint64(from / size), limit: shardLimit, id: s.newID()}
		for i := from; i < from+size; i++ {
			s.dir[i] = sh
		}
		from += size
	}
}

// newID returns an id for a new shard.
func (s *store[KK, E]) newID() int32 {
	s.shardIDs++
	return s.shardIDs - 1
}

// shards calls fn for every shard once, in hash order.
func (s *store[KK, E]) shards(fn func(*shard[KK, E])) {
	for i, sh := range s.dir {
		if i > 0 && s.dir[i-1] == sh {
			continue
		}
		fn(sh)
	}
}

// len returns the number of entries in all shards.
func (s *store[KK, E]) len() int {
	n := 0
	s.shards(func(sh *shard[KK, E]) {
		n += len(sh.m)
		if sh.raw != nil {
			n += sh.raw.n
		}
	})
	return n
}

// sweepShard returns the next shard a TTL sweep examines at processing
// time now, moving round the directory so that every shard is swept in
// turn. It is not settled: a sweep reads first, and settles the shard only
// if it deletes something. Raw entries that have expired (they expire
// together) are dropped here.
func (s *store[KK, E]) sweepShard(now int64) *shard[KK, E] {
	if s.sweepAt >= len(s.dir) {
		s.sweepAt = 0
	}
	sh := s.dir[s.sweepAt]
	if sh.raw != nil && expired(s.expiresAt(sh.raw.at), now) {
		settled(sh)
		sh.raw = nil
	}
	// Skip the rest of this shard's slots.
	s.sweepAt = (int(sh.prefix) + 1) << (s.depth - sh.depth)
	return sh
}

// capture marks every non-empty shard pending for a new capture of the
// store at processing time now. A shard still pending for an earlier
// capture is settled for it first.
func (s *store[KK, E]) capture(now int64) *capture[KK, E] {
	c := &capture[KK, E]{encode: s.encode, expiresAt: s.expiresAt, now: now}
	s.shards(func(sh *shard[KK, E]) {
		if sh.pending.Load() != nil {
			sh.settle()
		}
		if len(sh.m) == 0 && sh.raw == nil {
			return
		}
		sh.slot = len(c.shards)
		c.shards = append(c.shards, sh)
		sh.pending.Store(c)
	})
	c.out = make([]encoded, len(c.shards))
	return c
}

var (
	errViewRead     = errors.New("hashmap: the view's entries were already read")
	errViewReleased = errors.New("hashmap: the view was released")
)

// capture is a store's contents at one instant; it implements
// backend.View.
type capture[KK comparable, E any] struct {
	encode    func(*encoded, map[KK]E, int64)
	expiresAt func(int64) int64
	now       int64
	shards    []*shard[KK, E]
	out       []encoded // out[i] is shards[i] encoded, once it is
	// The scratch of the shards the task settles (encoded.scratch and
	// counts); only the task touches it.
	taskScratch any
	taskCounts  []int32
	released    atomic.Bool
	read        bool
}

// Entries implements backend.View.
func (c *capture[KK, E]) Entries(fn func(backend.Entry) error) error {
	if c.read {
		return errViewRead
	}
	c.read = true
	if c.released.Load() {
		return errViewReleased
	}
	var scratch encoded
	for i, sh := range c.shards {
		if err := c.take(i, sh, &scratch); err != nil {
			return err
		}
		if err := scratch.each(fn); err != nil {
			return err
		}
	}
	return nil
}

// EncodedEntries implements backend.EncodedView: one batch per shard.
func (c *capture[KK, E]) EncodedEntries(fn func(buf []byte, spans []backend.Span) error) error {
	if c.read {
		return errViewRead
	}
	c.read = true
	if c.released.Load() {
		return errViewReleased
	}
	var scratch encoded
	for i, sh := range c.shards {
		if err := c.take(i, sh, &scratch); err != nil {
			return err
		}
		if len(scratch.ents) == 0 {
			continue
		}
		if err := fn(scratch.arena, scratch.sortedSpans()); err != nil {
			return err
		}
	}
	return nil
}

// take puts shard i's entries into scratch: encoding the shard if it is
// still pending, or taking what the task encoded before modifying it.
func (c *capture[KK, E]) take(i int, sh *shard[KK, E], scratch *encoded) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.released.Load() {
		// Released while being read: what the task encoded is gone.
		return errViewReleased
	}
	if sh.pending.Load() == c {
		scratch.reset()
		c.encodeShard(scratch, sh)
		sh.pending.Store(nil)
	} else {
		*scratch, c.out[i] = c.out[i], encoded{}
	}
	return nil
}

// encodeShard appends the live entries of sh to out: its map's, encoded,
// and its raw ones, copied.
func (c *capture[KK, E]) encodeShard(out *encoded, sh *shard[KK, E]) {
	c.encode(out, sh.m, c.now)
	if sh.raw != nil && !expired(c.expiresAt(sh.raw.at), c.now) {
		err := sh.raw.each(func(e backend.Entry) error {
			out.add(e)
			return nil
		})
		if err != nil {
			panic(err) // the restore wrote them: a bug
		}
	}
}

// Release implements backend.View.
func (c *capture[KK, E]) Release() {
	if c.released.Swap(true) {
		return
	}
	for i, sh := range c.shards {
		sh.mu.Lock()
		c.out[i] = encoded{}
		sh.mu.Unlock()
	}
}

// encoded is a shard's entries in canonical encoding, the encoding of a
// data file (backend.RunRestorer): each entry's bytes, length prefixes
// included, lie together in one arena, so that a writer can copy them as
// they are; an index, sorted before use, locates them.
type encoded struct {
	arena []byte
	ents  []encEntry
	// While an entry is being appended: where the length prefix of the
	// part being appended starts, and how many bytes it was given.
	lenAt, lenSize int
	// valLenSize is the size of the last value's length prefix: values of
	// a table tend to have lengths of one size, so it is the guess for the
	// next one, and a value rarely has to move once appended.
	valLenSize int
	// touched accumulates the bytes the encoders load ahead (touch.go), so
	// that the loads are kept.
	touched byte
	// sorted reports that ents is in the order sort gives.
	sorted bool
	// Scratch of sort and spans, and of the table's encode (any: its type
	// depends on the table's).
	tmp     []encEntry
	counts  []int32
	spans   []backend.Span
	scratch any
}

type encEntry struct {
	hash           uint64
	off            int    // where the entry starts in the arena
	key, ns, value uint32 // lengths of the parts
	size           uint32 // of the whole encoding
}

func (e *encoded) reset() {
	e.arena = e.arena[:0]
	e.ents = e.ents[:0]
	e.sorted = false
}

// begin starts an entry with hash h; its key, namespace and value are then
// appended to the arena, each followed by its mark call.
func (e *encoded) begin(h uint64) {
	e.ents = append(e.ents, encEntry{hash: h, off: len(e.arena)})
	e.sorted = false
	e.arena = binary.LittleEndian.AppendUint64(e.arena, h)
	e.reserveLen(1)
}

// reserveLen appends room for the length prefix of the next part.
func (e *encoded) reserveLen(n int) {
	e.lenAt, e.lenSize = len(e.arena), n
	e.arena = append(e.arena, make([]byte, n)...)
}

// fixLen writes the length prefix of the part appended since reserveLen,
// moving the part if the prefix needs another size, and returns the part's
// length.
func (e *encoded) fixLen() int {
	start := e.lenAt + e.lenSize
	l := len(e.arena) - start
	n := uvarintLen(l)
	if n != e.lenSize {
		if n > e.lenSize {
			e.arena = append(e.arena, make([]byte, n-e.lenSize)...)
		}
		copy(e.arena[e.lenAt+n:], e.arena[start:start+l])
		e.arena = e.arena[:e.lenAt+n+l]
	}
	binary.PutUvarint(e.arena[e.lenAt:], uint64(l))
	return l
}

// markKey, markNS and markValue end the parts of the entry begun last.
func (e *encoded) markKey() {
	e.ents[len(e.ents)-1].key = uint32(e.fixLen())
	e.reserveLen(1)
}

func (e *encoded) markNS() {
	e.ents[len(e.ents)-1].ns = uint32(e.fixLen())
	e.reserveLen(max(e.valLenSize, 1))
}

func (e *encoded) markValue() {
	x := &e.ents[len(e.ents)-1]
	x.value = uint32(e.fixLen())
	x.size = uint32(len(e.arena) - x.off)
	e.valLenSize = uvarintLen(int(x.value))
}

// add appends a copy of entry x.
func (e *encoded) add(x backend.Entry) {
	off := len(e.arena)
	e.arena = backend.AppendEncoded(e.arena, x)
	e.ents = append(e.ents, encEntry{hash: x.Hash, off: off, key: uint32(len(x.Key)), ns: uint32(len(x.Namespace)), value: uint32(len(x.Value)), size: uint32(len(e.arena) - off)})
	e.sorted = false
}

func (e *encoded) entry(x encEntry) backend.Entry {
	k := x.off + 8 + uvarintLen(int(x.key))
	ke := k + int(x.key)
	n := ke + uvarintLen(int(x.ns))
	ne := n + int(x.ns)
	v := x.off + int(x.size) - int(x.value)
	ve := v + int(x.value)
	return backend.Entry{Hash: x.hash, Key: e.arena[k:ke:ke], Namespace: e.arena[n:ne:ne], Value: e.arena[v:ve:ve]}
}

// uvarintLen is the size of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// each sorts the entries by (hash, key, namespace, value) and calls fn for
// each.
func (e *encoded) each(fn func(backend.Entry) error) error {
	e.sort()
	for _, x := range e.ents {
		if err := fn(e.entry(x)); err != nil {
			return err
		}
	}
	return nil
}

// sortedSpans sorts the entries as each does and returns where each lies
// in the arena, in that order.
func (e *encoded) sortedSpans() []backend.Span {
	e.sort()
	spans := slices.Grow(e.spans[:0], len(e.ents))
	for _, x := range e.ents {
		spans = append(spans, backend.Span{Off: x.off, Len: int(x.size)})
	}
	e.spans = spans
	return spans
}

// sort orders the entries by (hash, key, namespace, value): by hash
// (sortByHash), then each run of equal hashes by the rest. It does nothing
// when the entries were appended in that order (sorted).
func (e *encoded) sort() {
	if e.sorted {
		return
	}
	e.ents, e.tmp = sortByHash(e.ents, e.tmp, &e.counts)
	e.sortTies()
	e.sorted = true
}

// sortTies orders each run of equal hashes among the entries, which are in
// hash order, by key, namespace and value.
func (e *encoded) sortTies() {
	ents := e.ents
	for i := 0; i < len(ents)-1; {
		j := i + 1
		for j < len(ents) && ents[j].hash == ents[i].hash {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(ents[i:j], e.compare)
		}
		i = j
	}
}

// compare orders two entries by (hash, key, namespace, value).
func (e *encoded) compare(a, b encEntry) int {
	if a.hash != b.hash {
		if a.hash < b.hash {
			return -1
		}
		return 1
	}
	ea, eb := e.entry(a), e.entry(b)
	if c := bytes.Compare(ea.Key, eb.Key); c != 0 {
		return c
	}
	if c := bytes.Compare(ea.Namespace, eb.Namespace); c != 0 {
		return c
	}
	return bytes.Compare(ea.Value, eb.Value)
}
