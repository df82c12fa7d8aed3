package format

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir/internal/backend"
)

// Compression selects how data blocks are compressed.
type Compression uint8

// Compression settings.
//
// Measured (BenchmarkWrite, BenchmarkRead; see docs/format/savepoint.md):
// zstd shrinks typical state to a third but writes at ~190 MB/s per core,
// while raw blocks write at disk speed (>1 GB/s) on a local SSD. Raw is
// the default; zstd pays where bytes are dear (object stores, slow disks,
// many retained checkpoints).
const (
	// NoCompression stores every block raw. It is the default.
	NoCompression Compression = iota
	// ZstdCompression compresses each block with zstd (fastest level) and
	// keeps the compressed form only when it saves at least an eighth.
	ZstdCompression
)

const (
	// batchSize is how many bytes of encoded blocks a KeyedWriter gathers
	// before one write system call.
	batchSize = 1 << 20
	// bytesPerSync is how many written bytes a KeyedWriter lets accumulate
	// before it asks the kernel to start writing them back.
	bytesPerSync = 8 << 20
)

// DefaultBlockSize is the default target size of a data block's raw payload.
const DefaultBlockSize = 64 << 10

// Options configure a Writer. The zero value (or a nil *Options) means the
// defaults.
type Options struct {
	// BlockSize is the raw payload size after which a block is closed
	// (a block may exceed it by one entry). Smaller blocks make the reads
	// of a narrow hash range more precise and the index larger.
	// Default DefaultBlockSize; at least 256 and at most 16 MiB.
	BlockSize int
	// Compression of data blocks. Default NoCompression.
	Compression Compression
}

// EnsureDefaults fills unset fields with their defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	return o
}

// Validate reports whether the options are usable.
func (o *Options) Validate() error {
	if o.BlockSize < 256 || o.BlockSize > maxBlockSize {
		return fmt.Errorf("format: block size %d is outside [256, 16 MiB]", o.BlockSize)
	}
	if o.Compression > ZstdCompression {
		return fmt.Errorf("format: unknown compression %d", o.Compression)
	}
	return nil
}

// NewDirName returns a fresh snapshot directory name,
// "savepoint-<first 6 hex digits of the job ID>-<12 random hex digits>".
func NewDirName(jobID [16]byte) string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	return "savepoint-" + hex.EncodeToString(jobID[:3]) + "-" + hex.EncodeToString(r[:])
}

// KeyedFileName returns the relative path of the data file that holds the
// keyed state (and timers) of one operator subtask.
func KeyedFileName(op OperatorID, subtask int) string {
	return fmt.Sprintf("keyed-%s-%d.dat", op, subtask)
}

// Writer writes one snapshot directory: data files through KeyedWriters,
// then _metadata by Finish. Its methods may be called from any goroutine;
// each KeyedWriter belongs to one goroutine.
type Writer struct {
	dir     string
	created bool // the Writer made dir, so Abort removes it whole
	opts    Options
	// syncEvery is how often data files are synced while written
	// (dataSink), and syncFile how (nil: syncData); tests change them.
	syncEvery int64
	syncFile  func(*os.File) error

	encOnce sync.Once
	enc     *zstd.Encoder
	encErr  error

	mu struct {
		sync.Mutex
		files    map[string]bool // relative paths of files written or being written
		open     int             // KeyedWriters not yet closed
		finished bool
		aborted  bool
	}
}

// Create makes a new snapshot directory named NewDirName(jobID) under parent
// (creating parent if needed) and returns a Writer for it. opts may be nil.
func Create(parent string, jobID [16]byte, opts *Options) (*Writer, error) {
	o, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("format: create snapshot parent directory: %w", err)
	}
	for range 5 {
		dir := filepath.Join(parent, NewDirName(jobID))
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // a name collision; draw another
		}
		if err != nil {
			return nil, fmt.Errorf("format: create snapshot directory: %w", err)
		}
		return newWriter(dir, true, o), nil
	}
	return nil, fmt.Errorf("format: create snapshot directory under %s: names keep colliding", parent)
}

// CreateIn returns a Writer for the snapshot directory dir, creating it if it
// does not exist. An existing dir must not hold _metadata (a complete
// snapshot is never overwritten). opts may be nil.
func CreateIn(dir string, opts *Options) (*Writer, error) {
	o, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	created := false
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("format: create snapshot directory: %w", err)
		}
		created = true
	case err != nil:
		return nil, fmt.Errorf("format: snapshot directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("format: snapshot directory %s is not a directory", dir)
	default:
		if _, err := os.Lstat(filepath.Join(dir, MetadataFile)); err == nil {
			return nil, fmt.Errorf("format: %s already holds a complete snapshot (it has %s)", dir, MetadataFile)
		}
	}
	return newWriter(dir, created, o), nil
}

func checkOptions(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	return o, o.Validate()
}

func newWriter(dir string, created bool, o Options) *Writer {
	w := &Writer{dir: dir, created: created, opts: o, syncEvery: syncEvery}
	w.mu.files = map[string]bool{}
	return w
}

// Dir returns the snapshot directory.
func (w *Writer) Dir() string { return w.dir }

func (w *Writer) encoder() (*zstd.Encoder, error) {
	if w.opts.Compression != ZstdCompression {
		return nil, nil
	}
	w.encOnce.Do(func() {
		w.enc, w.encErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderCRC(false), // blocks carry their own checksum
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithWindowSize(1<<20),
			zstd.WithLowerEncoderMem(true))
	})
	return w.enc, w.encErr
}

// Keyed returns a KeyedWriter for the data file of operator op's subtask,
// KeyedFileName(op, subtask).
func (w *Writer) Keyed(op OperatorID, subtask int) (*KeyedWriter, error) {
	if subtask < 0 {
		return nil, fmt.Errorf("format: subtask %d", subtask)
	}
	enc, err := w.encoder()
	if err != nil {
		return nil, fmt.Errorf("format: zstd encoder: %w", err)
	}
	rel := KeyedFileName(op, subtask)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.mu.finished:
		return nil, errors.New("format: snapshot already finished")
	case w.mu.aborted:
		return nil, errors.New("format: snapshot aborted")
	case w.mu.files[rel]:
		return nil, fmt.Errorf("format: data file %s already written in this snapshot", rel)
	}
	f, tmp, err := createTemp(w.dir, rel)
	if err != nil {
		return nil, err
	}
	w.mu.files[rel] = true
	w.mu.open++
	sink := newDataSink(f, w.syncEvery)
	if w.syncFile != nil {
		sink.syncFile = w.syncFile
	}
	sink.buf = append(sink.buf, dataHeader()...)
	return &KeyedWriter{
		sink:      sink,
		w:         w,
		rel:       rel,
		tmp:       tmp,
		f:         f,
		off:       dataHeaderSize,
		blockSize: w.opts.BlockSize,
		enc:       enc,
		raw:       make([]byte, 0, w.opts.BlockSize+w.opts.BlockSize/4),
		files:     map[string]KeyedFile{},
		names:     map[string]bool{},
	}, nil
}

// createTemp creates a fresh temporary file next to rel in dir.
func createTemp(dir, rel string) (*os.File, string, error) {
	for {
		var r [6]byte
		_, _ = rand.Read(r[:])
		tmp := filepath.Join(dir, filepath.FromSlash(rel)+".tmp-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("format: create %s: %w", tmp, err)
		}
		return f, tmp, nil
	}
}

// Finish completes the snapshot: it validates md, checks that every data
// file md references exists and is long enough, and writes _metadata
// atomically (temporary file, fsync, rename, fsync of the directory). Every
// KeyedWriter must be closed first. Data files may also have been written by
// other processes (any writer of KeyedFileName paths into the directory).
// After Finish returns nil the snapshot is complete and Abort does nothing.
func (w *Writer) Finish(md *Metadata) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.mu.finished:
		return errors.New("format: snapshot already finished")
	case w.mu.aborted:
		return errors.New("format: snapshot aborted")
	case w.mu.open > 0:
		return fmt.Errorf("format: %d keyed writers are still open", w.mu.open)
	}
	if err := md.Validate(); err != nil {
		return fmt.Errorf("format: invalid metadata for %s: %w", w.dir, err)
	}
	for _, op := range md.Operators {
		for _, st := range op.States {
			for _, f := range st.Files {
				last := f.Blocks[len(f.Blocks)-1]
				fi, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(f.Path)))
				if err != nil {
					return fmt.Errorf("format: operator %s state %q: data file: %w", op.ID, st.Name, err)
				}
				if uint64(fi.Size()) < last.Offset+last.Length {
					return fmt.Errorf("format: operator %s state %q: data file %s has %d bytes, its index needs %d",
						op.ID, st.Name, f.Path, fi.Size(), last.Offset+last.Length)
				}
			}
		}
	}
	// The renames of the data files become durable before _metadata exists.
	if err := syncDir(w.dir); err != nil {
		return err
	}
	if err := writeFileAtomic(w.dir, MetadataFile, EncodeMetadata(md)); err != nil {
		return err
	}
	w.mu.files[MetadataFile] = true
	if w.created {
		if err := syncDir(filepath.Dir(w.dir)); err != nil {
			return err
		}
	}
	w.mu.finished = true
	return nil
}

// Abort discards an unfinished snapshot: if the Writer created the
// directory it removes it with everything inside; otherwise it removes the
// files this Writer wrote. KeyedWriters still open fail when closed, and
// keep their goroutines (which may still be syncing a removed file) until
// then: their owners close or abort them. Abort after a successful Finish
// does nothing and returns an error.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.finished {
		return fmt.Errorf("format: %s is a finished snapshot; Abort does not remove it", w.dir)
	}
	w.mu.aborted = true
	if w.created {
		return os.RemoveAll(w.dir)
	}
	var errs []error
	for rel := range w.mu.files {
		if err := os.Remove(filepath.Join(w.dir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Temporary files of open KeyedWriters.
	if ents, err := os.ReadDir(w.dir); err == nil {
		for _, e := range ents {
			if name := e.Name(); isTempOf(name, w.mu.files) {
				if err := os.Remove(filepath.Join(w.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func isTempOf(name string, files map[string]bool) bool {
	for rel := range files {
		if len(name) == len(rel)+len(".tmp-")+12 && name[:len(rel)] == rel && name[len(rel):len(rel)+5] == ".tmp-" {
			return true
		}
	}
	return false
}

func (w *Writer) closed(rel string, ok bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mu.open--
	if !ok {
		delete(w.mu.files, rel)
	}
	if w.mu.aborted {
		if ok {
			_ = os.Remove(filepath.Join(w.dir, filepath.FromSlash(rel)))
		}
		return errors.New("format: snapshot aborted")
	}
	return nil
}

// writeFileAtomic writes dir/name through a temporary file, fsync and
// rename, then fsyncs dir.
func writeFileAtomic(dir, name string, data []byte) error {
	f, tmp, err := createTemp(dir, name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("format: write %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("format: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("format: sync directory %s: %w", dir, err)
	}
	return nil
}

// KeyedWriter writes the data file of one operator subtask: its keyed
// states one after another, each as entries in ascending (hash, key,
// namespace) order. A KeyedWriter belongs to one goroutine. Close or Abort
// must be called to release its file.
type KeyedWriter struct {
	w         *Writer
	rel, tmp  string
	f         *os.File
	off       uint64 // bytes written or gathered in batch
	blockSize int
	enc       *zstd.Encoder

	state  string               // current state, "" before StartState
	names  map[string]bool      // states started in this file
	blocks []Block              // blocks of the current state
	files  map[string]KeyedFile // finished states
	// The open block. Raw blocks are built in place in the sink's buffer,
	// from blkStart on (header room, then the payload); compressed ones in
	// raw, the payload only.
	raw      []byte
	blkStart int
	n        int    // entries in the open block
	first    uint64 // hash of the open block's first entry
	last     uint64 // hash of the previous entry of the state
	// The previous entry: while it is in the open block, its encoding at
	// prevOff in the block's buffer; once its block is flushed, a copy of
	// its key and namespace.
	prevOff int
	prevKey []byte
	prevNs  []byte
	hasPrev bool
	sink    *dataSink
	zbuf    []byte // scratch: a zstd frame
	err     error  // sticky
	done    bool
}

// Path returns the data file's path relative to the snapshot directory.
func (kw *KeyedWriter) Path() string { return kw.rel }

// StartState ends the previous state, if any, and starts the state name.
// Each state appears at most once per file.
func (kw *KeyedWriter) StartState(name string) error {
	if err := kw.usable(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("format: empty state name")
	}
	if err := kw.endState(); err != nil {
		return err
	}
	if kw.names[name] {
		return kw.fail(fmt.Errorf("format: state %q written twice to %s", name, kw.rel))
	}
	kw.names[name] = true
	kw.state = name
	return nil
}

// Add appends an entry to the current state. Entries must come in ascending
// (hash, key, namespace) order, as backend.Table.Entries yields them; equal
// (hash, key, namespace) triples are kept in the order added. Add copies
// what it needs, so e's slices may be reused after it returns; its
// signature fits backend.Table.Entries(r, kw.Add).
func (kw *KeyedWriter) Add(e backend.Entry) error {
	if kw.err != nil || kw.done {
		return kw.usable()
	}
	if kw.state == "" {
		return kw.fail(errors.New("format: Add before StartState"))
	}
	if kw.hasPrev && (e.Hash < kw.last || e.Hash == kw.last && kw.before(e)) {
		return kw.fail(fmt.Errorf("format: state %q: entry with hash %016x added after hash %016x; entries must be in (hash, key, namespace) order",
			kw.state, e.Hash, kw.last))
	}
	if size := 8 + 30 + len(e.Key) + len(e.Namespace) + len(e.Value); size > maxEntrySize {
		return kw.fail(fmt.Errorf("format: state %q: entry of %d bytes is larger than the maximum %d", kw.state, size, maxEntrySize))
	}
	buf := kw.open(e.Hash, backend.EncodedLen(e))
	*buf = appendEntry(*buf, e)
	return kw.added(e.Hash)
}

// open makes room for an entry of size bytes with hash h in the open block,
// starting a block if none is open, and returns the buffer to append the
// entry to: the sink's own buffer for raw blocks (built in place), the
// block's payload for compressed ones.
func (kw *KeyedWriter) open(h uint64, size int) *[]byte {
	if kw.n == 0 {
		kw.first = h
	}
	if kw.enc != nil {
		kw.prevOff = len(kw.raw)
		return &kw.raw
	}
	s := kw.sink
	if kw.n == 0 {
		// Room for the whole block at once: growing the buffer entry by
		// entry would copy it over and over.
		s.reserve(blockHeaderSize + kw.blockSize + size + blockTrailerSize)
		kw.blkStart = len(s.buf)
		s.buf = s.buf[:kw.blkStart+blockHeaderSize]
	} else {
		s.reserve(size)
	}
	kw.prevOff = len(s.buf)
	return &s.buf
}

// added counts the entry with hash h just appended after open, and writes
// the block out once its payload reaches the block size.
func (kw *KeyedWriter) added(h uint64) error {
	kw.n++
	kw.last = h
	kw.hasPrev = true
	payload := len(kw.raw)
	if kw.enc == nil {
		payload = len(kw.sink.buf) - kw.blkStart - blockHeaderSize
	}
	if payload >= kw.blockSize {
		return kw.flush()
	}
	return nil
}

// AddEncoded appends entries that are already encoded, each as for
// backend.RunRestorer, to the current state: buf[sp.Off:sp.Off+sp.Len] for
// each span, in order. It is the same as calling Add for each entry in
// turn, with the same checks (each span must hold one whole entry with
// canonical lengths, in the order Add requires) and the same file, but
// copies the bytes as they are. Its signature fits
// backend.EncodedView.EncodedEntries.
func (kw *KeyedWriter) AddEncoded(buf []byte, spans []backend.Span) error {
	if kw.err != nil || kw.done {
		return kw.usable()
	}
	if kw.state == "" {
		return kw.fail(errors.New("format: AddEncoded before StartState"))
	}
	for i, sp := range spans {
		if sp.Off < 0 || sp.Len <= 0 || sp.Off > len(buf)-sp.Len || measureEntry(buf[sp.Off:sp.Off+sp.Len]) != sp.Len {
			return kw.fail(fmt.Errorf("format: state %q: span %d (%d bytes at %d of %d) is not one whole entry: %w", kw.state, i, sp.Len, sp.Off, len(buf), backend.ErrBadRun))
		}
		p := buf[sp.Off : sp.Off+sp.Len : sp.Off+sp.Len]
		h := binary.LittleEndian.Uint64(p)
		if kw.hasPrev && (h < kw.last || h == kw.last && kw.encodedBefore(p)) {
			return kw.fail(fmt.Errorf("format: state %q: entry with hash %016x added after hash %016x; entries must be in (hash, key, namespace) order",
				kw.state, h, kw.last))
		}
		if sp.Len > maxEntrySize-40 {
			e, _, _ := backend.NextEncoded(p)
			if size := 8 + 30 + len(e.Key) + len(e.Namespace) + len(e.Value); size > maxEntrySize {
				return kw.fail(fmt.Errorf("format: state %q: entry of %d bytes is larger than the maximum %d", kw.state, size, maxEntrySize))
			}
		}
		buf := kw.open(h, sp.Len)
		*buf = append(*buf, p...)
		if err := kw.added(h); err != nil {
			return err
		}
	}
	return nil
}

// encodedBefore reports whether the encoded entry p (with the previous
// entry's hash) sorts before the previous entry.
func (kw *KeyedWriter) encodedBefore(p []byte) bool {
	e, _, _ := backend.NextEncoded(p) // measured whole
	return kw.before(e)
}

// prevEntry returns the key and namespace of the previous entry of the
// state.
func (kw *KeyedWriter) prevEntry() (key, ns []byte) {
	if kw.n == 0 {
		return kw.prevKey, kw.prevNs
	}
	buf := kw.raw
	if kw.enc == nil {
		buf = kw.sink.buf
	}
	e, _, _ := backend.NextEncoded(buf[kw.prevOff:]) // written by Add
	return e.Key, e.Namespace
}

// before reports whether e (with the previous entry's hash) sorts before
// the previous entry.
func (kw *KeyedWriter) before(e backend.Entry) bool {
	key, ns := kw.prevEntry()
	if c := bytes.Compare(e.Key, key); c != 0 {
		return c < 0
	}
	return bytes.Compare(e.Namespace, ns) < 0
}

// flush writes the open block.
func (kw *KeyedWriter) flush() error {
	if kw.n == 0 {
		return nil
	}
	// Keep the last entry's key and namespace: its buffer is handed over.
	key, ns := kw.prevEntry()
	kw.prevKey = append(kw.prevKey[:0], key...)
	kw.prevNs = append(kw.prevNs[:0], ns...)
	s := kw.sink
	var start int
	var sum uint64
	if kw.enc == nil {
		s.reserve(blockTrailerSize)
		start = kw.blkStart
		s.buf, sum = finishBlock(s.buf, start, kw.n)
	} else {
		s.reserve(len(kw.raw) + blockOverhead)
		start = len(s.buf)
		s.buf, kw.zbuf, sum = appendBlock(s.buf, kw.raw, kw.n, kw.enc, kw.zbuf)
	}
	length := uint64(len(s.buf) - start)
	kw.blocks = append(kw.blocks, Block{
		FirstHash: kw.first,
		LastHash:  kw.last,
		Offset:    kw.off,
		Length:    length,
		Entries:   uint64(kw.n),
		Checksum:  sum,
	})
	kw.off += length
	kw.raw = kw.raw[:0]
	kw.n = 0
	if err := s.submit(); err != nil {
		return kw.fail(fmt.Errorf("format: write %s: %w", kw.rel, err))
	}
	return nil
}

func (kw *KeyedWriter) endState() error {
	if kw.state == "" {
		return nil
	}
	if err := kw.flush(); err != nil {
		return err
	}
	if len(kw.blocks) > 0 {
		kw.files[kw.state] = KeyedFile{Path: kw.rel, Blocks: kw.blocks}
	}
	kw.state, kw.blocks, kw.hasPrev = "", nil, false
	return nil
}

func (kw *KeyedWriter) usable() error {
	switch {
	case kw.err != nil:
		return kw.err
	case kw.done:
		return fmt.Errorf("format: keyed writer for %s is closed", kw.rel)
	}
	return nil
}

// fail records err, discards the file and returns err.
func (kw *KeyedWriter) fail(err error) error {
	if kw.err == nil {
		kw.err = err
		_ = kw.discard()
	}
	return err
}

func (kw *KeyedWriter) discard() error {
	if kw.done {
		return nil
	}
	kw.done = true
	kw.sink.abort()
	_ = kw.f.Close()
	_ = os.Remove(kw.tmp)
	return kw.w.closed(kw.rel, false)
}

// Close ends the last state, makes the file durable (fsync, rename to its
// final name) and returns, for each state that received entries, its
// KeyedFile for State.Files. A file without entries is removed and Close
// returns an empty map. After an error the file is discarded.
func (kw *KeyedWriter) Close() (map[string]KeyedFile, error) {
	if err := kw.usable(); err != nil {
		return nil, err
	}
	if err := kw.endState(); err != nil {
		return nil, err
	}
	if len(kw.files) == 0 {
		if err := kw.discard(); err != nil {
			return nil, err
		}
		return kw.files, nil
	}
	err := kw.sink.close()
	if cerr := kw.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(kw.tmp, filepath.Join(kw.w.dir, filepath.FromSlash(kw.rel)))
	}
	if err != nil {
		kw.err = fmt.Errorf("format: write %s: %w", kw.rel, err)
		kw.done = true
		_ = os.Remove(kw.tmp)
		_ = kw.w.closed(kw.rel, false)
		return nil, kw.err
	}
	kw.done = true
	if err := kw.w.closed(kw.rel, true); err != nil {
		return nil, err
	}
	return kw.files, nil
}

// Abort discards the data file. It does nothing after Close.
func (kw *KeyedWriter) Abort() { _ = kw.discard() }
