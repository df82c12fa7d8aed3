package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/jsonline"
)

// JSONAppender is implemented by record types that encode themselves as
// JSON. AppendJSON appends one compact JSON value, without a newline, to b
// and returns the extended buffer; it must not retain b. Sinks use it instead
// of encoding/json, without reflection and, for a method on T or *T, without
// allocating.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// defaultFlushThreshold is how many bytes a subtask buffers before appending
// them to the file.
const defaultFlushThreshold = 64 << 10

// SinkOption configures a [JSONLinesSink].
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	perm      fs.FileMode
	threshold int
	err       error // of an invalid option, reported by NewWriter
}

// WithFileMode sets the permission bits of the file if the sink creates it
// (before the umask). The default is 0644.
func WithFileMode(perm fs.FileMode) SinkOption {
	return func(c *sinkConfig) {
		if perm&^fs.ModePerm != 0 {
			c.err = errors.Join(c.err, fmt.Errorf("file: WithFileMode(%v): only permission bits may be set", perm))
			return
		}
		c.perm = perm
	}
}

// WithFlushThreshold sets how many bytes of encoded records a subtask buffers
// before it appends them to the file; the default is 64 KiB. A subtask also
// appends what it holds on Flush.
func WithFlushThreshold(n int) SinkOption {
	return func(c *sinkConfig) {
		if n <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("file: WithFlushThreshold(%d): the threshold must be positive", n))
			return
		}
		c.threshold = n
	}
}

// JSONLinesSink writes records to one file as JSON lines: one JSON value and
// a "\n" per record. Create it with [JSONLines].
//
// All parallel subtasks share the file. Each subtask encodes into a buffer of
// its own and appends whole lines to the file, under a lock, when the buffer
// exceeds the flush threshold and when the writer is flushed at the end of
// the input; so lines of different subtasks never interleave, and their
// order in the file is the order of neither records nor subtasks.
//
// The first writer created (when the job starts) creates or truncates the
// file, and the last writer closed closes it. The file therefore always holds
// whole lines: it is empty if the job fails before a subtask appends
// anything, and a failed job leaves only what was appended before the
// failure; records a subtask had buffered but not appended are dropped. If a
// write fails part way, the partial lines are cut off again. A sink may be
// used by one job at a time; a later job run with the same sink starts the
// file afresh.
//
// Flush hands the data to the operating system (write(2)) but does not
// fsync: the lines survive a crash of the process, not of the machine.
//
// A record of type T is encoded with its AppendJSON method if T or *T
// implements [JSONAppender], and with encoding/json otherwise (as
// json.Marshal does, but without escaping <, > and & for HTML). If T is an
// interface type, the choice is made for each record. An AppendJSON method
// must produce a single line.
type JSONLinesSink[T any] struct {
	path string
	cfg  sinkConfig

	mu struct {
		sync.Mutex
		f    *os.File
		refs int   // open writers
		size int64 // bytes of whole lines in f
		err  error // sticky: f may end in a partial line
	}
}

// JSONLines returns a sink that writes records as JSON lines to the file at
// path.
func JSONLines[T any](path string, opts ...SinkOption) *JSONLinesSink[T] {
	s := &JSONLinesSink[T]{path: path, cfg: sinkConfig{perm: 0o644, threshold: defaultFlushThreshold}}
	for _, o := range opts {
		o(&s.cfg)
	}
	if path == "" {
		s.cfg.err = errors.Join(s.cfg.err, errors.New("file: JSONLines: empty path"))
	}
	return s
}

// Path returns the path of the file the sink writes.
func (s *JSONLinesSink[T]) Path() string { return s.path }

// NewWriter implements [weir.Sink]. The first writer opens the file,
// creating or truncating it.
func (s *JSONLinesSink[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, s.cfg.perm)
		if err != nil {
			return nil, fmt.Errorf("file: JSON lines sink: %w", err)
		}
		s.mu.f, s.mu.size, s.mu.err = f, 0, nil
	}
	s.mu.refs++
	w := &jsonLinesWriter[T]{s: s}
	w.buf.B = make([]byte, 0, s.cfg.threshold+s.cfg.threshold/8)
	w.enc.Init(&w.buf, false)
	return w, nil
}

// appendLines appends whole lines to the file.
func (s *JSONLinesSink[T]) appendLines(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.err != nil {
		return s.mu.err
	}
	if s.mu.f == nil {
		return fmt.Errorf("file: JSON lines sink %s: write after the file was closed", s.path)
	}
	n, err := s.mu.f.Write(b)
	if err == nil {
		s.mu.size += int64(n)
		return nil
	}
	err = fmt.Errorf("file: JSON lines sink: %w", err)
	if n > 0 {
		// Cut the partial lines off again, so the file stays well formed.
		if terr := s.mu.f.Truncate(s.mu.size); terr != nil {
			s.mu.err = fmt.Errorf("%w (and removing the partial line failed: %v; the file ends in a partial line)", err, terr)
			return s.mu.err
		}
		if _, serr := s.mu.f.Seek(s.mu.size, io.SeekStart); serr != nil {
			s.mu.err = fmt.Errorf("%w (and seeking back failed: %v)", err, serr)
			return s.mu.err
		}
	}
	return err
}

// release closes the file when the last writer is closed.
func (s *JSONLinesSink[T]) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.refs--
	if s.mu.refs > 0 || s.mu.f == nil {
		return nil
	}
	f := s.mu.f
	s.mu.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("file: JSON lines sink: %w", err)
	}
	return nil
}

// jsonLinesWriter is the writer of one subtask.
type jsonLinesWriter[T any] struct {
	s      *JSONLinesSink[T]
	buf    jsonline.Buffer
	enc    jsonline.Encoder[T]
	closed bool
}

// Write implements [weir.SinkWriter].
func (w *jsonLinesWriter[T]) Write(v T) error {
	if err := w.enc.Encode(&w.buf, v); err != nil {
		return fmt.Errorf("file: JSON lines sink %s: %w", w.s.path, err)
	}
	if len(w.buf.B) >= w.s.cfg.threshold {
		return w.Flush()
	}
	return nil
}

// Flush implements [weir.SinkWriter]: it appends the buffered lines to the
// file.
func (w *jsonLinesWriter[T]) Flush() error {
	if len(w.buf.B) == 0 {
		return nil
	}
	err := w.s.appendLines(w.buf.B)
	w.buf.B = w.buf.B[:0]
	return err
}

// Close implements [weir.SinkWriter]. Lines not yet flushed are dropped.
func (w *jsonLinesWriter[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.buf.B = nil
	return w.s.release()
}
