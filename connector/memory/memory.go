// Package memory holds in-process connectors, mostly for tests: a source
// that emits the elements of a slice and a sink that collects results.
package memory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weirstream/weir"
)

// Source emits the elements of a slice. It is bounded and replayable:
// parallel subtasks take interleaved elements (subtask i of p takes i, i+p,
// ...), and a split's position is the number of elements it has emitted.
type Source[T any] struct {
	elems   []T
	ts      func(T) int64
	perRead int
	wait    time.Duration
}

// SourceOption configures a Source.
type SourceOption[T any] func(*Source[T])

// WithTimestamps gives each element an event timestamp.
func WithTimestamps[T any](ts func(T) int64) SourceOption[T] {
	return func(s *Source[T]) { s.ts = ts }
}

// WithPacing emits at most n elements per read and waits d between reads,
// to let tests interleave sources.
func WithPacing[T any](n int, d time.Duration) SourceOption[T] {
	return func(s *Source[T]) { s.perRead, s.wait = n, d }
}

// NewSource returns a source of elems.
func NewSource[T any](elems []T, opts ...SourceOption[T]) *Source[T] {
	s := &Source[T]{elems: elems, perRead: 1024}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Bounded implements weir.Source.
func (s *Source[T]) Bounded() bool { return true }

// Splits implements weir.Source: one split per subtask.
func (s *Source[T]) Splits(p int) ([][]byte, error) {
	out := make([][]byte, p)
	for i := range out {
		out[i] = encodeSplit(split{start: int64(i), stride: int64(p)})
	}
	return out, nil
}

// NewReader implements weir.Source.
func (s *Source[T]) NewReader(weir.SourceContext) (weir.SourceReader[T], error) {
	return &reader[T]{s: s}, nil
}

type split struct {
	start, stride, pos int64
}

func encodeSplit(sp split) []byte {
	b := binary.AppendVarint(nil, sp.start)
	b = binary.AppendVarint(b, sp.stride)
	return binary.AppendVarint(b, sp.pos)
}

var errBadSplit = errors.New("memory: malformed split")

func decodeSplit(b []byte) (split, error) {
	var sp split
	var n int
	for _, f := range []*int64{&sp.start, &sp.stride, &sp.pos} {
		*f, n = binary.Varint(b)
		if n <= 0 {
			return split{}, errBadSplit
		}
		b = b[n:]
	}
	if len(b) != 0 || sp.stride <= 0 || sp.start < 0 || sp.pos < 0 {
		return split{}, errBadSplit
	}
	return sp, nil
}

type reader[T any] struct {
	s      *Source[T]
	splits []split
}

func (r *reader[T]) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		sp, err := decodeSplit(b)
		if err != nil {
			return err
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

// Read emits up to perRead elements, taking them from the splits in turn so
// that the subtask emits elements in index order.
func (r *reader[T]) Read(out weir.SourceOutput[T]) (weir.ReadStatus, error) {
	for n := 0; n < r.s.perRead; n++ {
		// Pick the split whose next element has the lowest index.
		best := -1
		var bestIdx int64
		for i, sp := range r.splits {
			idx := sp.start + sp.pos*sp.stride
			if idx >= int64(len(r.s.elems)) {
				continue
			}
			if best < 0 || idx < bestIdx {
				best, bestIdx = i, idx
			}
		}
		if best < 0 {
			return weir.ReadStatus{Done: true}, nil
		}
		r.splits[best].pos++
		v := &r.s.elems[bestIdx]
		ts := weir.NoTimestamp
		if r.s.ts != nil {
			ts = r.s.ts(*v)
		}
		out.Emit(v, ts)
	}
	return weir.ReadStatus{Wait: r.s.wait}, nil
}

func (r *reader[T]) SnapshotSplits() ([][]byte, error) {
	out := make([][]byte, len(r.splits))
	for i, sp := range r.splits {
		out[i] = encodeSplit(sp)
	}
	return out, nil
}

func (r *reader[T]) Close() error { return nil }

// Sink collects every record it receives, from all subtasks. It is safe for
// concurrent use.
type Sink[T any] struct {
	mu      sync.Mutex
	results []T
	fail    func(T) error
}

// NewSink returns an empty collecting sink.
func NewSink[T any]() *Sink[T] { return &Sink[T]{} }

// FailOn makes the sink fail the job when f returns an error for a record.
func (s *Sink[T]) FailOn(f func(T) error) *Sink[T] {
	s.fail = f
	return s
}

// Results returns a copy of the records collected so far.
func (s *Sink[T]) Results() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]T(nil), s.results...)
}

// NewWriter implements weir.Sink.
func (s *Sink[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	return &sinkWriter[T]{s: s}, nil
}

type sinkWriter[T any] struct {
	s   *Sink[T]
	buf []T
}

func (w *sinkWriter[T]) Write(v T) error {
	if w.s.fail != nil {
		if err := w.s.fail(v); err != nil {
			return fmt.Errorf("memory sink: %w", err)
		}
	}
	w.buf = append(w.buf, v)
	if len(w.buf) >= 4096 {
		return w.Flush()
	}
	return nil
}

func (w *sinkWriter[T]) Flush() error {
	w.s.mu.Lock()
	w.s.results = append(w.s.results, w.buf...)
	w.s.mu.Unlock()
	w.buf = w.buf[:0]
	return nil
}

func (w *sinkWriter[T]) Close() error { return nil }
