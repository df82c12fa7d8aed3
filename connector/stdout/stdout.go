package stdout

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/jsonline"
)

// flushThreshold is how many bytes a subtask buffers before it writes them.
const flushThreshold = 64 << 10

// stdoutMu serializes the writes of every sink printing to os.Stdout, so
// that lines of two sinks of a job never interleave either.
var stdoutMu sync.Mutex

// Option configures a [PrintSink].
type Option func(*config)

type config struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix bool
	err    error // of an invalid option, reported by NewWriter
}

// To makes the sink print to w instead of os.Stdout. The sink's subtasks
// write to w under a lock of the sink's; if other code writes to w at the
// same time, w must be safe for concurrent use.
func To(w io.Writer) Option {
	return func(c *config) {
		if w == nil {
			c.err = errors.New("stdout: To(nil): give a writer")
			return
		}
		c.w, c.mu = w, new(sync.Mutex)
	}
}

// WithPrefix, if on, starts each line with the number of the subtask that
// printed it, counted from 1, and "> " ("3> record"), when the sink runs in
// more than one subtask. It is off by default.
func WithPrefix(on bool) Option {
	return func(c *config) { c.prefix = on }
}

// PrintSink prints records one line each. Create it with [Sink].
//
// A record of type T is printed with its AppendJSON method if T or *T has
// one (AppendJSON(b []byte) []byte appends one compact JSON value to b),
// as is if T is string, and as JSON by encoding/json otherwise (without
// escaping <, > and & for HTML). If T is an interface type, the choice is
// made for each record. A record encoding/json cannot encode (a channel, a
// function) fails the job; a string holding newlines prints as several
// lines.
//
// Each subtask buffers its lines and writes them, whole, under a lock shared
// by the subtasks, when it holds 64 KiB and when it is flushed or closed, so
// lines of different subtasks never interleave mid-line. Lines still
// buffered when a job fails are printed when the writer is closed.
type PrintSink[T any] struct {
	cfg config
}

// Sink returns a sink that prints records to os.Stdout, or to the writer
// given with [To].
func Sink[T any](opts ...Option) *PrintSink[T] {
	s := &PrintSink[T]{cfg: config{w: os.Stdout, mu: &stdoutMu}}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

// NewWriter implements [weir.Sink].
func (s *PrintSink[T]) NewWriter(ctx weir.SinkContext) (weir.SinkWriter[T], error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	w := &writer[T]{cfg: &s.cfg, buf: jsonline.Buffer{B: make([]byte, 0, flushThreshold+flushThreshold/8)}}
	if s.cfg.prefix && ctx.Parallelism > 1 {
		w.prefix = append(strconv.AppendInt(nil, int64(ctx.Subtask)+1, 10), "> "...)
	}
	w.enc.Init(&w.buf, true)
	return w, nil
}

// writer is the writer of one subtask.
type writer[T any] struct {
	cfg    *config
	prefix []byte
	buf    jsonline.Buffer
	enc    jsonline.Encoder[T]
	closed bool
}

// Write implements [weir.SinkWriter].
func (w *writer[T]) Write(v T) error {
	n := len(w.buf.B)
	w.buf.B = append(w.buf.B, w.prefix...)
	if err := w.enc.Encode(&w.buf, v); err != nil {
		w.buf.B = w.buf.B[:n]
		return fmt.Errorf("stdout: %w; give the type an AppendJSON method or print strings", err)
	}
	if len(w.buf.B) >= flushThreshold {
		return w.Flush()
	}
	return nil
}

// Flush implements [weir.SinkWriter]: it writes the buffered lines.
func (w *writer[T]) Flush() error {
	if len(w.buf.B) == 0 {
		return nil
	}
	w.cfg.mu.Lock()
	n, err := w.cfg.w.Write(w.buf.B)
	w.cfg.mu.Unlock()
	if err == nil && n < len(w.buf.B) {
		err = io.ErrShortWrite
	}
	w.buf.B = w.buf.B[:0]
	if err != nil {
		return fmt.Errorf("stdout: printing records: %w", err)
	}
	return nil
}

// Close implements [weir.SinkWriter]: it writes the lines still buffered.
func (w *writer[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.Flush()
	w.buf.B = nil
	return err
}
