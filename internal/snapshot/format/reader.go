package format

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// readAhead is the most bytes one ReadAt fetches: runs of adjacent blocks
// that a range needs are read together up to this size.
const readAhead = 1 << 20

// prefetch is how far beyond its reads a cursor asks the kernel to read
// ahead (willNeed), so that the disk works while blocks are decoded. A fast
// disk needs a deep window: restoring 1 GB at p=3 from a disk that reads
// 2.5 GB/s took 0.58-0.88 s with 32 MiB and 0.47-0.52 s with 64 to 256 MiB
// (BENCHMARKS.md). The kernel may drop pages it was asked for under memory
// pressure; the reads then fetch them again.
const prefetch = 128 << 20

// Snapshot is an opened, complete snapshot. Its methods may be called from
// any number of goroutines at once; data files are opened per call.
type Snapshot struct {
	dir string
	md  *Metadata

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error

	bytesRead, blocksRead, entriesRead atomic.Int64
}

// ReadStats counts the work of reads.
type ReadStats struct {
	// Bytes is the number of bytes read from data files (file headers and
	// blocks; _metadata not included).
	Bytes int64
	// Blocks is the number of blocks read and verified.
	Blocks int64
	// Entries is the number of entries passed to the callback.
	Entries int64
}

// ReadOption configures one read.
type ReadOption func(*readConfig)

type readConfig struct {
	stats  *ReadStats
	mapped bool
}

// WithStats adds the read's counts to *st when the read returns (also on
// error). *st must not be shared by concurrent reads; Snapshot.Stats gives
// the totals of all reads.
func WithStats(st *ReadStats) ReadOption {
	return func(c *readConfig) { c.stats = st }
}

// Mapped makes ReadKeyedRuns map the data files into memory, read-only,
// instead of reading them into buffers: a run of a block stored
// uncompressed then lies in the mapping and carries it as backend.Run.Keep,
// so that a restorer may keep the run's bytes instead of copying them. The
// mapping is unmapped once Keep is garbage. Where files cannot be mapped
// (the platform or the file system does not allow it), and for files whose
// hash ranges overlap (whose entries interleave, in runs of one), the read
// uses buffers; runs then carry no Keep.
//
// While ReadKeyedRuns reads, a page of a mapping that cannot be read (the
// file was truncated under it, or the disk failed) fails the read with
// ErrTruncated naming the file. Afterwards, reading such a page through a
// kept run kills the process (SIGBUS): a mapped file must not be truncated
// or overwritten in place while a run of it is kept. Removing or renaming
// it is safe (the mapping holds the data, and its disk space, until
// unmapped). weir never writes a data file twice.
func Mapped() ReadOption {
	return func(c *readConfig) { c.mapped = true }
}

// Open opens the snapshot at path, which is either the snapshot directory or
// its _metadata file, and decodes its metadata. A directory without
// _metadata is refused with ErrIncomplete; every error is a *FileError.
func Open(path string) (*Snapshot, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		reason := "cannot open: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			reason = "no such file or directory"
			err = fmt.Errorf("%w: %w", ErrNotSnapshot, err)
		}
		return nil, &FileError{Dir: abs, Offset: -1, Reason: reason, Err: err}
	}
	dir, name := abs, MetadataFile
	if !fi.IsDir() {
		dir, name = filepath.Dir(abs), filepath.Base(abs)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && fi.IsDir() {
			return nil, &FileError{Dir: dir, File: MetadataFile, Offset: -1, Err: ErrIncomplete,
				Reason: "incomplete snapshot (no _metadata): its writer never finished (it crashed, was aborted or is still running), or this is not a snapshot directory"}
		}
		return nil, &FileError{Dir: dir, File: name, Offset: -1, Reason: "cannot read: " + err.Error(), Err: err}
	}
	md, err := DecodeMetadata(b)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			fe.Dir, fe.File = dir, name
		}
		return nil, err
	}
	return &Snapshot{dir: dir, md: md}, nil
}

// Dir returns the absolute path of the snapshot directory.
func (s *Snapshot) Dir() string { return s.dir }

// Metadata returns the decoded _metadata. It is shared; do not modify it.
func (s *Snapshot) Metadata() *Metadata { return s.md }

// Stats returns the totals of all reads so far.
func (s *Snapshot) Stats() ReadStats {
	return ReadStats{Bytes: s.bytesRead.Load(), Blocks: s.blocksRead.Load(), Entries: s.entriesRead.Load()}
}

// decoder returns the snapshot's zstd decoder, created by the first read
// that needs it. Concurrent reads share it: DecodeAll is safe for
// concurrent use (up to GOMAXPROCS calls decode at once, the others wait).
// It is used with DecodeAll only; streaming decodes (Reset, Read) would not
// be safe to share.
func (s *Snapshot) decoder() (*zstd.Decoder, error) {
	s.decOnce.Do(func() {
		s.dec, s.decErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderMaxMemory(maxCompressedRaw),
			zstd.WithDecodeAllCapLimit(true))
	})
	return s.dec, s.decErr
}

// ReadKeyed calls fn for every entry of the keyed state (or timers) named
// state of operator op whose hash lies in r, in ascending (hash, key,
// namespace) order, and returns the first error fn returns. It reads only
// the blocks of each data file that overlap r, verifies each block's
// checksum and its agreement with the index, and reports a damaged or
// missing file as a *FileError. The slices passed to fn are valid only
// during the call.
//
// ReadKeyed is safe for concurrent use: any number of goroutines may read
// one *Snapshot at once, of the same or different states and ranges (a
// parallel restore reads one range per subtask). Each call opens its own
// file handles and buffers; what calls share is read-only (the decoded
// _metadata), created once (the zstd decoder, whose DecodeAll is safe for
// concurrent use) or updated atomically (the totals of Stats). fn is called
// on the calling goroutine only, and the *ReadStats of WithStats must not be
// shared by concurrent calls.
func (s *Snapshot) ReadKeyed(op OperatorID, state string, r keyspace.Range, fn func(backend.Entry) error, opts ...ReadOption) error {
	return s.readKeyed(op, state, r, fn, nil, opts)
}

// ReadKeyedRuns is ReadKeyed for bulk loaders (backend.RunRestorer): fn
// receives the same entries, in the same order, as runs of consecutive
// entries in their data-file encoding (hash uint64 LE, then key, namespace
// and value, each after its uvarint length), valid only during the call.
// Every check of ReadKeyed is made. A run read from one block carries the
// offsets of its entries (backend.Run.Offsets), found by those checks.
func (s *Snapshot) ReadKeyedRuns(op OperatorID, state string, r keyspace.Range, fn func(backend.Run) error, opts ...ReadOption) error {
	return s.readKeyed(op, state, r, nil, fn, opts)
}

// readKeyed reads for ReadKeyed (fn) or ReadKeyedRuns (runs).
func (s *Snapshot) readKeyed(op OperatorID, state string, r keyspace.Range, fn func(backend.Entry) error, runs func(backend.Run) error, opts []ReadOption) error {
	var cfg readConfig
	for _, o := range opts {
		o(&cfg)
	}
	st, err := s.keyedState(op, state)
	if err != nil {
		return err
	}
	if r.Lo > r.Hi {
		return fmt.Errorf("format: empty hash range %v", r)
	}
	dec, err := s.decoder()
	if err != nil {
		return fmt.Errorf("format: zstd decoder: %w", err)
	}

	var stats ReadStats
	defer func() {
		s.bytesRead.Add(stats.Bytes)
		s.blocksRead.Add(stats.Blocks)
		s.entriesRead.Add(stats.Entries)
		if cfg.stats != nil {
			cfg.stats.Bytes += stats.Bytes
			cfg.stats.Blocks += stats.Blocks
			cfg.stats.Entries += stats.Entries
		}
	}()

	var cs []*cursor
	for i := range st.Files {
		f := &st.Files[i]
		bs := f.Blocks
		i0 := sort.Search(len(bs), func(i int) bool { return bs[i].LastHash >= r.Lo })
		i1 := i0 + sort.Search(len(bs)-i0, func(i int) bool { return bs[i0+i].FirstHash > r.Hi })
		if i0 == i1 {
			continue
		}
		last := bs[len(bs)-1]
		cs = append(cs, &cursor{
			s: s, dec: dec, stats: &stats, order: i,
			path: f.Path, blocks: bs[i0:i1], needSize: last.Offset + last.Length, r: r,
			lo: max(bs[i0].FirstHash, r.Lo), hi: min(bs[i1-1].LastHash, r.Hi),
		})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].lo < cs[j].lo })
	disjoint := true
	for i := 1; i < len(cs); i++ {
		disjoint = disjoint && cs[i-1].hi < cs[i].lo
	}
	if disjoint {
		// The usual case: the files' ranges do not overlap, so they are
		// read one after another with one file open at a time.
		for _, c := range cs {
			var err error
			if runs != nil {
				c.mapped = cfg.mapped
				err = c.drainRuns(runs)
			} else {
				err = c.drain(fn)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if runs != nil {
		// Overlapping files interleave: runs of one entry.
		return merge(cs, func(c *cursor) error { return runs(backend.Run{Bytes: c.raw, N: 1}) }, &stats)
	}
	return merge(cs, func(c *cursor) error { return fn(c.e) }, &stats)
}

// merge yields the entries of overlapping files in (hash, key, namespace)
// order, ties broken by the file's position in the index.
func merge(cs []*cursor, fn func(*cursor) error, stats *ReadStats) error {
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	h := make(cursorHeap, 0, len(cs))
	for _, c := range cs {
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		c := h[0]
		stats.Entries++
		if err := fn(c); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
			c.close()
		}
	}
	return nil
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	a, b := &h[i].e, &h[j].e
	if a.Hash != b.Hash {
		return a.Hash < b.Hash
	}
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.Namespace, b.Namespace); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// cursor reads the blocks of one data file that overlap a range.
type cursor struct {
	s        *Snapshot
	dec      *zstd.Decoder
	stats    *ReadStats
	order    int     // position of the file in the state's index
	path     string  // relative path of the data file
	blocks   []Block // the blocks overlapping r
	needSize uint64  // the file's size according to the index
	r        keyspace.Range
	lo, hi   uint64 // the part of r the blocks can hold
	mapped   bool   // map the file (Mapped; drainRuns only)
	probe    bool   // only open and check the file (CheckFiles): no read-ahead

	f       *os.File
	m       *mapping // the file's blocks, if mapped
	buf     []byte   // read buffer; span is its filled part
	span    []byte
	spanOff uint64
	scratch []byte // decompressed payloads
	inMap   bool   // the current payload lies in m (not decompressed)
	bi      int    // index of the next block to load
	hinted  uint64 // the file is prefetched up to here
	blk     *Block // the current block
	it      entryIter
	nInBlk  uint64 // entries decoded from the current block
	lastH   uint64 // hash of the last decoded entry
	done    bool
	e       backend.Entry // the current entry
	raw     []byte        // the current entry's encoding in the payload
	offs    []uint32      // scratch of drainRuns: the entries' offsets in a run
}

// drain yields all of the cursor's entries in range to fn.
func (c *cursor) drain(fn func(backend.Entry) error) error {
	defer c.close()
	for {
		ok, err := c.next()
		if err != nil || !ok {
			return err
		}
		c.stats.Entries++
		if err := fn(c.e); err != nil {
			return err
		}
	}
}

// drainRuns yields the cursor's entries in range to fn as runs: the
// consecutive entries of one block, in their encoding in the payload. Each
// block is checked whole by scanBlock, in one pass that decodes no entry
// and records where each entry starts; a run ends with its block, before
// the next load can reuse the buffer.
func (c *cursor) drainRuns(fn func(backend.Run) error) (err error) {
	defer c.close()
	if c.done {
		return nil
	}
	if err := c.open(); err != nil {
		return err
	}
	if c.m != nil {
		// A page of the mapping that cannot be read (the file was
		// truncated under the reader, or the disk failed) faults; while
		// the runs are read, that is an error naming the file, not the
		// end of the process.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if p := recover(); p != nil {
				off, ok := c.m.faultAt(p)
				if !ok {
					panic(p)
				}
				err = c.errorf(off, ErrTruncated, "cannot read the mapped data file (truncated while read, or a disk error)")
			}
		}()
	}
	for c.bi < len(c.blocks) {
		if err := c.load(); err != nil {
			return err
		}
		p := c.it.p
		sc, err := scanBlock(p, c.blk, c.lastH, c.r.Lo, c.r.Hi, c.offs)
		if err != nil {
			return c.blockError(err)
		}
		c.offs = sc.offs
		c.lastH = sc.last
		c.it = entryIter{} // the block is consumed
		if sc.n > 0 {
			c.stats.Entries += int64(sc.n)
			run := backend.Run{Bytes: p[sc.start:sc.end:sc.end], N: int(sc.n), Offsets: sc.offs, Distinct: sc.distinct}
			if c.inMap {
				run.Keep = c.m
			}
			if err := fn(run); err != nil {
				return err
			}
		}
		if sc.past {
			return nil
		}
	}
	return nil
}

func (c *cursor) close() {
	if c.f != nil {
		_ = c.f.Close()
		c.f = nil
	}
	c.done = true
}

func (c *cursor) errorf(off int64, err error, format string, args ...any) error {
	c.close()
	return &FileError{Dir: c.s.dir, File: c.path, Offset: off, Reason: fmt.Sprintf(format, args...), Err: err}
}

func (c *cursor) open() error {
	f, err := os.Open(filepath.Join(c.s.dir, filepath.FromSlash(c.path)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c.errorf(-1, ErrMissingFile, "missing data file (referenced by _metadata)")
		}
		return c.errorf(-1, err, "cannot open data file: %v", err)
	}
	c.f = f
	fi, err := f.Stat()
	if err != nil {
		return c.errorf(-1, err, "cannot stat data file: %v", err)
	}
	if uint64(fi.Size()) < c.needSize {
		return c.errorf(-1, ErrTruncated, "truncated: expected at least %d bytes, found %d", c.needSize, fi.Size())
	}
	var h [dataHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return c.errorf(0, ErrTruncated, "cannot read the header: %v", err)
	}
	c.stats.Bytes += dataHeaderSize
	if reason, err := checkDataHeader(h[:]); err != nil {
		return c.errorf(0, err, "%s", reason)
	}
	if c.mapped {
		// From the first block's page to the last block's end; a file
		// that cannot be mapped is read into buffers.
		first, last := c.blocks[0], c.blocks[len(c.blocks)-1]
		c.m, _ = mapFile(f, int64(first.Offset), int64(last.Offset+last.Length-first.Offset))
	}
	if c.probe {
		return nil
	}
	// Start the disk on the first blocks now, so that the first read
	// waits for less than all of them.
	c.prefetch(c.blocks[0].Offset)
	return nil
}

// next advances to the next entry in range; it returns false at the end.
func (c *cursor) next() (bool, error) {
	if c.done {
		return false, nil
	}
	if c.f == nil {
		if err := c.open(); err != nil {
			return false, err
		}
	}
	for {
		e, ok, err := c.it.next()
		if err != nil {
			return false, c.blockError(err)
		}
		if !ok {
			if c.blk != nil && c.lastH != c.blk.LastHash {
				return false, c.errorf(int64(c.blk.Offset), ErrInconsistent,
					"block's last entry has hash %016x, the index says %016x", c.lastH, c.blk.LastHash)
			}
			if c.bi == len(c.blocks) {
				c.close()
				return false, nil
			}
			if err := c.load(); err != nil {
				return false, err
			}
			continue
		}
		b := c.blk
		switch {
		case c.nInBlk == 0 && e.Hash != b.FirstHash:
			return false, c.errorf(int64(b.Offset), ErrInconsistent,
				"block's first entry has hash %016x, the index says %016x", e.Hash, b.FirstHash)
		case e.Hash < c.lastH:
			return false, c.errorf(int64(b.Offset), ErrInconsistent,
				"entries out of hash order (%016x after %016x)", e.Hash, c.lastH)
		case e.Hash > b.LastHash:
			return false, c.errorf(int64(b.Offset), ErrInconsistent,
				"entry hash %016x is beyond the block's last hash %016x in the index", e.Hash, b.LastHash)
		}
		c.nInBlk++
		c.lastH = e.Hash
		if e.Hash < c.r.Lo {
			continue
		}
		if e.Hash > c.r.Hi {
			c.close()
			return false, nil
		}
		c.e, c.raw = e, c.it.last
		return true, nil
	}
}

func (c *cursor) blockError(err error) error {
	var be *blockError
	if errors.As(err, &be) {
		return c.errorf(int64(c.blk.Offset), be.err, "block of %d bytes with %d entries: %s", c.blk.Length, c.blk.Entries, be.reason)
	}
	return c.errorf(int64(c.blk.Offset), err, "%v", err)
}

// load reads (if not yet in the span), verifies and opens the next block.
func (c *cursor) load() error {
	b := &c.blocks[c.bi]
	c.bi++
	if c.m != nil {
		c.span, c.spanOff = c.m.at(b.Offset, b.Length), b.Offset
		c.stats.Bytes += int64(b.Length)
		c.prefetch(b.Offset + b.Length)
	} else if b.Offset < c.spanOff || b.Offset+b.Length > c.spanOff+uint64(len(c.span)) {
		// Read this block and the adjacent ones after it, up to readAhead.
		end := b.Offset + b.Length
		for j := c.bi; j < len(c.blocks) && c.blocks[j].Offset == end && end+c.blocks[j].Length-b.Offset <= readAhead; j++ {
			end += c.blocks[j].Length
		}
		n := end - b.Offset // <= needSize <= the file's size, checked in open
		if uint64(cap(c.buf)) < n {
			c.buf = make([]byte, max(n, min(readAhead, c.needSize)))
		}
		c.span = c.buf[:n]
		if _, err := c.f.ReadAt(c.span, int64(b.Offset)); err != nil {
			c.span = nil
			if errors.Is(err, io.EOF) {
				return c.errorf(int64(b.Offset), ErrTruncated, "truncated: cannot read %d bytes at offset %d", n, b.Offset)
			}
			return c.errorf(int64(b.Offset), err, "cannot read: %v", err)
		}
		c.spanOff = b.Offset
		c.stats.Bytes += int64(n)
		c.prefetch(end)
	}
	c.blk = b
	c.nInBlk = 0
	raw := c.span[b.Offset-c.spanOff : b.Offset-c.spanOff+b.Length]
	payload, err := decodeBlock(raw, b, c.dec, c.scratch)
	if err != nil {
		return c.blockError(err)
	}
	c.inMap = c.m != nil
	if len(payload) > 0 && (len(raw) == 0 || &payload[0] != &raw[blockHeaderSize]) {
		c.scratch = payload[:0] // decompressed: keep the buffer for reuse
		c.inMap = false
	}
	c.stats.Blocks++
	c.it = entryIter{p: payload, left: b.Entries}
	return nil
}

// prefetch asks the kernel to read the cursor's blocks ahead once less than
// half of prefetch is left ahead of off, the end of the last read.
func (c *cursor) prefetch(off uint64) {
	last := c.blocks[len(c.blocks)-1]
	stop := last.Offset + last.Length
	c.hinted = max(c.hinted, off)
	if c.hinted >= stop || c.hinted-off >= prefetch/2 {
		return
	}
	n := min(prefetch, stop-c.hinted)
	willNeed(c.f, int64(c.hinted), int64(n))
	c.hinted += n
}

// CheckFiles checks the data files of the keyed state of operator op: that
// each is there, is as long as its blocks need and starts with a data-file
// header this build reads. These are the checks a restore makes as it
// opens a file, made without reading a block, so they cost an open and a
// small read per file; Verify checks the blocks too. It returns the first
// problem, as a *FileError, or ErrNoState if there is no such keyed state.
func (s *Snapshot) CheckFiles(op OperatorID, state string) error {
	st, err := s.keyedState(op, state)
	if err != nil {
		return err
	}
	var stats ReadStats
	for i := range st.Files {
		f := &st.Files[i]
		if len(f.Blocks) == 0 {
			continue
		}
		last := f.Blocks[len(f.Blocks)-1]
		c := &cursor{s: s, stats: &stats, path: f.Path, blocks: f.Blocks, needSize: last.Offset + last.Length, probe: true}
		if err := c.open(); err != nil {
			return err
		}
		c.close()
	}
	return nil
}

// keyedState returns the keyed state of operator op, or an error wrapping
// ErrNoState that says what is missing.
func (s *Snapshot) keyedState(op OperatorID, state string) (*State, error) {
	o := s.md.Operator(op)
	if o == nil {
		return nil, fmt.Errorf("format: savepoint %s has no operator %s: %w", s.dir, op, ErrNoState)
	}
	st := o.State(state)
	switch {
	case st == nil:
		return nil, fmt.Errorf("format: savepoint %s: operator %s (%q) has no state %q: %w", s.dir, op, o.Name, state, ErrNoState)
	case !st.Kind.IsKeyed():
		return nil, fmt.Errorf("format: savepoint %s: operator %s (%q) state %q is %s state, not keyed: %w", s.dir, op, o.Name, state, st.Kind, ErrNoState)
	}
	return st, nil
}

// Verify reads every block of every keyed state and checks it, returning
// the first problem found. It is what `weir inspect --verify` and tests use
// to check a whole snapshot.
func (s *Snapshot) Verify() error {
	for _, op := range s.md.Operators {
		for _, st := range op.States {
			if !st.Kind.IsKeyed() {
				continue
			}
			if err := s.ReadKeyed(op.ID, st.Name, keyspace.Full, func(backend.Entry) error { return nil }); err != nil {
				return err
			}
		}
	}
	return nil
}
