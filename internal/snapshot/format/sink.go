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
// It writes through the page cache and makes the file durable as it goes:
// every bytesPerSync bytes it asks the kernel to start writing back what it
// wrote (sync_file_range), and every syncEvery bytes it asks a second
// goroutine to fdatasync the file, which then drops what that made durable
// from the page cache (fadvise DONTNEED). Writing goes on during a sync,
// and waits only while one sync runs and another is asked for. So the
// final fsync has little left to do, and a file keeps at most about three
// syncEvery ranges in the page cache while it is written, and none once
// closed (TestSinkWritesBehind), instead of a gigabyte that nobody will
// read soon, pushing out what the job or its machine use.
//
// Why syncs during the write: this VM's disk accepts writes faster than it
// makes them durable, and a sync waits for all it accepted. Instrumented in
// the savepoint benchmark (1 GB of 1,000-byte values, two files), each
// file's final fsync took 0.44–0.58 s after its writes had ended when the
// sink only started write-back and waited for it along the way. With syncs
// every 128 MiB the final ones took 0–0.12 s, and savepoints 0.82–0.98 s;
// the sink before took 0.86–1.32 s in the same hour (BENCHMARKS.md,
// eleventh session).
//
// The sink used direct I/O (O_DIRECT) before the tenth session. Each direct
// write waited for the device, and it was slower in the same benchmark:
// 1.32–1.97 s against 1.04–1.39 s for write-back without syncs.
type dataSink struct {
	f         *os.File
	syncEvery int64
	syncFile  func(*os.File) error // syncData; tests make it fail
	buf       []byte
	queue     chan []byte // filled buffers, in file order
	spare     chan []byte // written buffers, for reuse
	done      chan struct{}
	bufs      int // buffers allocated
	closed    bool
	aborted   atomic.Bool // the goroutines skip what is still queued

	mu  sync.Mutex
	err error // the goroutine's first error
}

const (
	// sinkBuffers is how many batchSize buffers a sink cycles through: one
	// being filled, the others queued or being written.
	sinkBuffers = 3
	// syncEvery is how many bytes a sink writes between two syncs. In the
	// savepoint benchmark (1 GB of 1,000-byte values, two runs of two
	// rounds each, alternated), syncs every 128 MiB gave savepoints of
	// 0.82–0.98 s and every 64 MiB 0.78–1.07 s.
	syncEvery = 128 << 20
)

// newDataSink starts a sink for f, which is empty, that syncs every
// syncEvery bytes.
func newDataSink(f *os.File, syncEvery int64) *dataSink {
	s := &dataSink{
		f:         f,
		syncEvery: syncEvery,
		syncFile:  syncData,
		queue:     make(chan []byte, sinkBuffers),
		spare:     make(chan []byte, sinkBuffers),
		done:      make(chan struct{}),
		bufs:      1,
		buf:       make([]byte, 0, batchSize+batchSize/4),
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

// close writes what is left, waits for the goroutines, makes the file
// durable (fsync) and drops it from the page cache. It does not close f.
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
	if err := s.f.Sync(); err != nil {
		return err
	}
	dropCache(s.f, 0, 0)
	return nil
}

// abort stops the sink's goroutines without writing what is left: it
// waits for a write or a sync that is under way (a sync of up to about
// three syncEvery ranges) and skips what is still queued.
func (s *dataSink) abort() {
	if s.closed {
		return
	}
	s.closed = true
	s.aborted.Store(true)
	close(s.queue)
	<-s.done
}

// fail records err as the sink's error unless it has one.
func (s *dataSink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// run writes the queued buffers at their offsets until the queue closes.
// After an error it only drains the queue.
func (s *dataSink) run() {
	defer close(s.done)
	var (
		off, started, asked int64
		syncs               chan int64 // to syncBehind: sync up to there
		synced              chan struct{}
	)
	defer func() {
		if syncs != nil {
			close(syncs)
			<-synced
		}
	}()
	for b := range s.queue {
		if !s.aborted.Load() && s.failed() == nil && len(b) > 0 {
			if _, err := s.f.WriteAt(b, off); err != nil {
				s.fail(fmt.Errorf("write at offset %d: %w", off, err))
			}
			off += int64(len(b))
			if off-started >= bytesPerSync {
				startWriteback(s.f, started, off-started)
				started = off
			}
			if off-asked >= s.syncEvery {
				if syncs == nil {
					syncs, synced = make(chan int64, 1), make(chan struct{})
					go s.syncBehind(syncs, synced)
				}
				syncs <- off // waits while one sync runs and one is asked for
				asked = off
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

// syncBehind makes the file durable up to each offset it receives and
// drops what that made durable from the page cache, until syncs closes;
// then it closes done. A failed sync is the sink's error: Linux reports a
// write-back error to one sync only, so the final one may not see it.
func (s *dataSink) syncBehind(syncs <-chan int64, done chan<- struct{}) {
	defer close(done)
	var dropped int64
	for end := range syncs {
		if s.aborted.Load() || s.failed() != nil {
			continue
		}
		if err := s.syncFile(s.f); err != nil {
			s.fail(fmt.Errorf("sync: %w", err))
			continue
		}
		dropCache(s.f, dropped, end-dropped)
		dropped = end
	}
}
