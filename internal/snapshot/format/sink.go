package format

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A dataSink writes the bytes of one data file, in order, on a goroutine of
// its own, so that a KeyedWriter gathers the next blocks while the last ones
// are written.
//
// Where the platform and the file system allow it, the sink writes with
// direct I/O (O_DIRECT): the bytes go from its buffers to the disk with no
// copy into the page cache. Measured on the development VM, 1 GiB written
// from two streams: direct 1.9–2.7 GB/s for 0.15–0.2 CPU-s, buffered with
// fdatasync 1.1–2.7 GB/s for 0.3–2.7 CPU-s (the kernel's page cache copy and
// page allocation, which varies with memory pressure). Direct writes must
// start at aligned offsets, from aligned memory, in aligned lengths: the
// sink writes whole multiples of sinkAlign and carries the rest over to the
// next buffer; the last write is padded with zeros and the file truncated
// to its real length. If the file system refuses direct I/O, the sink
// writes through the page cache, asking the kernel to start writeback
// every bytesPerSync bytes so that the final fsync has little left to do.
type dataSink struct {
	f       *os.File
	direct  bool // the file was opened for direct I/O (the goroutine may fall back)
	buf     []byte
	queue   chan []byte // filled buffers, in file order
	spare   chan []byte // written buffers, for reuse
	done    chan struct{}
	bufs    int   // buffers allocated
	size    int64 // bytes given to the sink
	closed  bool
	aborted atomic.Bool // the goroutine skips what is still queued

	mu  sync.Mutex
	err error // the goroutine's first error
}

const (
	// sinkAlign is the alignment of direct writes: offsets, lengths and
	// memory. 4 KiB suits every logical block size in use.
	sinkAlign = 4096
	// sinkBuffers is how many batchSize buffers a sink cycles through: one
	// being filled, the others queued or being written.
	sinkBuffers = 3
)

// directIO is whether sinks try direct I/O; tests turn it off to cover the
// buffered path.
var directIO = true

// newDataSink starts a sink for f, which is empty, trying direct I/O.
func newDataSink(f *os.File) *dataSink {
	s := &dataSink{
		f:      f,
		direct: directIO && setDirect(f, true),
		queue:  make(chan []byte, sinkBuffers),
		spare:  make(chan []byte, sinkBuffers),
		done:   make(chan struct{}),
		bufs:   1,
	}
	s.buf = alignedBuffer(batchSize + batchSize/4)
	go s.run()
	return s
}

// alignedBuffer returns an empty slice of capacity n whose memory starts at
// a multiple of sinkAlign.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+sinkAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (sinkAlign - 1))
	return b[off : off : off+n]
}

// reserve makes room for n more bytes in the current buffer without moving
// it out of alignment.
func (s *dataSink) reserve(n int) {
	if cap(s.buf)-len(s.buf) >= n {
		return
	}
	b := alignedBuffer(len(s.buf) + n + batchSize/4)
	s.buf = append(b, s.buf...)
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
	n := len(s.buf)
	if s.direct {
		n &^= sinkAlign - 1
	}
	next := s.take()
	next = append(next, s.buf[n:]...)
	s.size += int64(n)
	s.queue <- s.buf[:n]
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
		return alignedBuffer(batchSize + batchSize/4)
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
	size := s.size + int64(len(s.buf))
	b := s.buf
	if s.direct {
		if pad := -len(b) & (sinkAlign - 1); pad > 0 {
			s.reserve(pad)
			b = append(s.buf, make([]byte, pad)...)
		}
	}
	s.queue <- b
	close(s.queue)
	<-s.done
	if err := s.failed(); err != nil {
		return err
	}
	if fi, err := s.f.Stat(); err != nil {
		return err
	} else if fi.Size() != size {
		if err := s.f.Truncate(size); err != nil {
			return err
		}
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
	direct := s.direct
	var off, synced int64
	for b := range s.queue {
		if !s.aborted.Load() && s.failed() == nil && len(b) > 0 {
			_, err := s.f.WriteAt(b, off)
			if err != nil && direct && isDirectRefused(err) && setDirect(s.f, false) {
				// The file system took the file for direct I/O but
				// refuses the write: go through the page cache.
				direct = false
				_, err = s.f.WriteAt(b, off)
			}
			if err != nil {
				s.mu.Lock()
				s.err = fmt.Errorf("write at offset %d: %w", off, err)
				s.mu.Unlock()
			}
			off += int64(len(b))
			if !direct && off-synced >= bytesPerSync {
				startWriteback(s.f, synced, off-synced)
				synced = off
			}
		}
		if cap(b) > batchSize+batchSize/4 {
			// Grown by reserve for a huge block: let it go, and give
			// the pool a buffer of the usual size in its place.
			b = alignedBuffer(batchSize + batchSize/4)
		}
		s.spare <- b[:0]
	}
}
