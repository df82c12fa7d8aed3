package stdout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"sync"

	"github.com/weirstream/weir"
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
	w := &writer[T]{cfg: &s.cfg, buf: appendBuffer{b: make([]byte, 0, flushThreshold+flushThreshold/8)}}
	if s.cfg.prefix && ctx.Parallelism > 1 {
		w.prefix = append(strconv.AppendInt(nil, int64(ctx.Subtask)+1, 10), "> "...)
	}
	w.enc.init(&w.buf)
	return w, nil
}

// writer is the writer of one subtask.
type writer[T any] struct {
	cfg    *config
	prefix []byte
	buf    appendBuffer
	enc    encoder[T]
	closed bool
}

// Write implements [weir.SinkWriter].
func (w *writer[T]) Write(v T) error {
	n := len(w.buf.b)
	w.buf.b = append(w.buf.b, w.prefix...)
	if err := w.enc.encode(&w.buf, v); err != nil {
		w.buf.b = w.buf.b[:n]
		return fmt.Errorf("stdout: %w; give the type an AppendJSON method or print strings", err)
	}
	if len(w.buf.b) >= flushThreshold {
		return w.Flush()
	}
	return nil
}

// Flush implements [weir.SinkWriter]: it writes the buffered lines.
func (w *writer[T]) Flush() error {
	if len(w.buf.b) == 0 {
		return nil
	}
	w.cfg.mu.Lock()
	n, err := w.cfg.w.Write(w.buf.b)
	w.cfg.mu.Unlock()
	if err == nil && n < len(w.buf.b) {
		err = io.ErrShortWrite
	}
	w.buf.b = w.buf.b[:0]
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
	w.buf.b = nil
	return err
}

// appendBuffer is an io.Writer that appends to a byte slice.
type appendBuffer struct{ b []byte }

func (a *appendBuffer) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// jsonAppender is implemented by records that encode themselves as JSON.
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// encodeMode says how an encoder encodes records.
type encodeMode uint8

const (
	encodeJSON    encodeMode = iota // encoding/json
	encodeCur                       // cur's AppendJSON, after copying the record into cur
	encodeString                    // T is string: print as is
	encodeDynamic                   // decided for each record
)

// encoder encodes records of type T as lines. The choice of encoding is
// made once, so that the AppendJSON and string paths neither reflect nor
// allocate: the record is copied into cur, whose address is already held in
// app or str.
type encoder[T any] struct {
	mode encodeMode
	cur  T
	app  jsonAppender
	str  *string
	json *json.Encoder
}

// init prepares e to encode into buf. e must not be copied afterwards.
func (e *encoder[T]) init(buf *appendBuffer) {
	e.json = json.NewEncoder(buf)
	e.json.SetEscapeHTML(false)
	switch p := any(&e.cur).(type) {
	case jsonAppender:
		e.mode, e.app = encodeCur, p
		return
	case *string:
		e.mode, e.str = encodeString, p
		return
	}
	var zero T
	if _, ok := any(zero).(jsonAppender); ok || reflect.TypeFor[T]().Kind() == reflect.Interface {
		e.mode = encodeDynamic
	}
}

// encode appends v and a newline to buf.
func (e *encoder[T]) encode(buf *appendBuffer, v T) error {
	switch e.mode {
	case encodeCur:
		e.cur = v
		buf.b = append(e.app.AppendJSON(buf.b), '\n')
		return nil
	case encodeString:
		e.cur = v
		buf.b = append(append(buf.b, *e.str...), '\n')
		return nil
	case encodeDynamic:
		switch x := any(v).(type) {
		case jsonAppender:
			buf.b = append(x.AppendJSON(buf.b), '\n')
			return nil
		case string:
			buf.b = append(append(buf.b, x...), '\n')
			return nil
		}
	}
	// json.Encoder writes nothing if encoding fails, and ends with "\n".
	if err := e.json.Encode(v); err != nil {
		return fmt.Errorf("encoding a %T record as JSON: %w", v, err)
	}
	return nil
}
