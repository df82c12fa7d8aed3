package format

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// A dataSink writes the bytes of one data file, in order, on a goroutine of
// its own, so that a KeyedWriter gathers the next blocks while the last ones
// are written.
//
// It writes through the page cache and keeps little of the file there:
// every bytesPerSync bytes it asks the kernel to start writing back what it
// wrote (sync_file_range), and once a range lies dropBehind bytes behind
// the last one handed to write-back, it waits until that range is on the
// disk and drops it from the page cache (fadvise DONTNEED). So the final
// fsync has little left to do, and a savepoint leaves at most a few
// dropBehind windows of each file in the page cache (TestSinkWritesBehind)
// instead of a gigabyte that nobody will read soon, pushing out what the
// job or its machine use.
//
// The sink used direct I/O (O_DIRECT) before. Alternated with it in the
// savepoint benchmark (BENCHMARKS.md, tenth session), this takes
// 1.04–1.39 s for 1 GB of 1,000-byte values against 1.32–1.97 s, and
// 1.83–2.85 s against 2.38–2.79 s for 16 M 48-byte values. Each direct
// write waits for the device, and one file's final fsync stalled the other
// file's writes (0.67–0.72 s, instrumented).
type dataSink struct {
	f       *os.File
	buf     []byte
	queue   chan []byte // filled buffers, in file order
	spare   chan []byte // written buffers, for reuse
	done    chan struct{}
	bufs    int // buffers allocated
	closed  bool
	aborted atomic.Bool // the goroutine skips what is still queued

	mu  sync.Mutex
	err error // the goroutine's first error
}

const (
	// sinkBuffers is how many batchSize buffers a sink cycles through: one
	// being filled, the others queued or being written.
	sinkBuffers = 3
	// dropBehind is how far behind the last range written back a range is
	// waited for and dropped from the page cache, and how much is dropped
	// at a time. With bytesPerSync, measured in the savepoint benchmark
	// (1 GB of 1,000-byte values, two runs of four rounds each, alternated):
	// write-back started every 8 MiB and 32 MiB windows took 1.08–1.40 s,
	// every 1 MiB and 8 MiB windows 1.19–1.69 s.
	dropBehind = 32 << 20
)

// newDataSink starts a sink for f, which is empty.
func newDataSink(f *os.File) *dataSink {
	s := &dataSink{
		f:     f,
		queue: make(chan []byte, sinkBuffers),
		spare: make(chan []byte, sinkBuffers),
		done:  make(chan struct{}),
		bufs:  1,
		buf:   make([]byte, 0, batchSize+batchSize/4),
	}
	go s.run()
	return s
}

// reserve makes room for n more bytes in the current buffer.
func (s *dataSink) reserve(n int) {
	if cap(s.buf)-len(s.buf) >= n {
		return
	}
	s.buf = append(make([]byte, 0, len(s.buf)+n+batchSize/4), s.buf...)
}

// failed returns the goroutine's error, if any.
func (s *dataSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// submit hands the current buffer to the goroutine once it holds at least
// batchSize bytes.
func (s *dataSink) submit() error {
	if len(s.buf) < batchSize {
		return nil
	}
	if err := s.failed(); err != nil {
		return err
	}
	next := s.take()
	s.queue <- s.buf
	s.buf = next
	// Let the sink's goroutine run now. When one of its writes returns
	// while every P is busy encoding, it waits in the run queue until an
	// encoder is preempted, up to 10 ms, and the disk idles: traced in the
	// savepoint benchmark at p=2 on two cores, each sink spent 1.2 s of a
	// 2.7 s savepoint runnable and not writing. Yielding once per batch
	// costs well under a microsecond.
	runtime.Gosched()
	return nil
}

// take returns an empty buffer: a written one, or a new one while fewer
// than sinkBuffers exist.
func (s *dataSink) take() []byte {
	select {
	case b := <-s.spare:
		return b
	default:
	}
	if s.bufs < sinkBuffers {
		s.bufs++
		return make([]byte, 0, batchSize+batchSize/4)
	}
	return <-s.spare
}

// close writes what is left, waits for the goroutine, and makes the file
// durable (fsync). It does not close f.
func (s *dataSink) close() error {
	if s.closed {
		return errors.New("format: data sink closed twice")
	}
	s.closed = true
	s.queue <- s.buf
	close(s.queue)
	<-s.done
	if err := s.failed(); err != nil {
		return err
	}
	return s.f.Sync()
}

// abort stops the goroutine without writing what is left.
func (s *dataSink) abort() {
	if s.closed {
		return
	}
	s.closed = true
	s.aborted.Store(true)
	close(s.queue)
	<-s.done
}

// run writes the queued buffers at their offsets until the queue closes.
// After an error it only drains the queue.
func (s *dataSink) run() {
	defer close(s.done)
	var off, synced, dropped int64
	for b := range s.queue {
		if !s.aborted.Load() && s.failed() == nil && len(b) > 0 {
			if _, err := s.f.WriteAt(b, off); err != nil {
				s.mu.Lock()
				s.err = fmt.Errorf("write at offset %d: %w", off, err)
				s.mu.Unlock()
			}
			off += int64(len(b))
			if off-synced >= bytesPerSync {
				startWriteback(s.f, synced, off-synced)
				synced = off
				if synced-dropped >= 2*dropBehind {
					dropWritten(s.f, dropped, dropBehind)
					dropped += dropBehind
				}
			}
		}
		if cap(b) > batchSize+batchSize/4 {
			// Grown by reserve for a huge block: let it go, and give
			// the pool a buffer of the usual size in its place.
			b = make([]byte, 0, batchSize+batchSize/4)
		}
		s.spare <- b[:0]
	}
}
