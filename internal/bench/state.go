package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/state"
)

// StateOptions configure the savepoint benchmark.
type StateOptions struct {
	// Dir is where savepoints and the disk probe are written.
	Dir string
	// Keys is the number of keys; each holds a ValueBytes-byte value.
	Keys       int64
	ValueBytes int
	// Parallelism of the job that takes the savepoint.
	Parallelism int
	// RestoreParallelism is the parallelism restored at.
	RestoreParallelism int
}

// StateResult is what the savepoint benchmark measured.
type StateResult struct {
	StateBytes        int64 // bytes of the data files
	DiskWrite         float64
	DiskRead          float64 // MB/s, the disk's own fdatasync'd sequential write and (warm) read
	SavepointWrite    float64 // MB/s of data files, trigger to completion
	SavepointTime     time.Duration
	MaxSyncPause      time.Duration // longest synchronous phase of a task
	RestoreRead       float64       // MB/s, restoring the whole state at RestoreParallelism
	RestoreTime       time.Duration
	BytesPerSubtask   []int64 // bytes each new subtask reads at RestoreParallelism
	FilesTotal        int64
	WriteDiskRatio    float64
	RestoreDiskRatio  float64
	RestoreParallel   int
	SnapshotParallel  int
	KeysWritten       int64
	ValueBytesPerKey  int
	SavepointDirBytes int64
}

// keySource emits keys 0..n-1 (interleaved across subtasks) once, then idles
// so that a savepoint can still be taken.
type keySource struct{ n int64 }

func (s keySource) Bounded() bool { return false }
func (s keySource) Splits(p int) ([][]byte, error) {
	out := make([][]byte, p)
	for i := range out {
		out[i] = binary.AppendUvarint(binary.AppendUvarint(nil, uint64(i)), uint64(p))
	}
	return out, nil
}
func (s keySource) NewReader(weir.SourceContext) (weir.SourceReader[int64], error) {
	return &keyReader{n: s.n}, nil
}

type keyReader struct {
	n, next, step int64
	v             int64
}

func (r *keyReader) AddSplits(b [][]byte) error {
	if len(b) == 0 {
		r.next = r.n
		return nil
	}
	first, k := binary.Uvarint(b[0])
	step, _ := binary.Uvarint(b[0][k:])
	r.next, r.step = int64(first), int64(step)
	return nil
}
func (r *keyReader) Read(out weir.SourceOutput[int64]) (weir.ReadStatus, error) {
	for i := 0; i < 4096 && r.next < r.n; i++ {
		r.v = r.next
		out.Emit(&r.v, 0)
		r.next += r.step
	}
	return weir.ReadStatus{Wait: time.Millisecond}, nil
}
func (r *keyReader) SnapshotSplits() ([][]byte, error) { return nil, nil }
func (r *keyReader) Close() error                      { return nil }

// store keeps one value per key and counts the keys it has stored.
type store struct {
	size  int
	val   state.Value[[]byte]
	count *sync.WaitGroup
}

func (s *store) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	s.val, err = state.GetValue(ctx, state.ValueDescriptor[[]byte]{Name: "payload"})
	return err
}

func (s *store) ProcessElement(ctx *weir.KeyedContext[int64], k int64, _ weir.Collector[int64]) error {
	v := make([]byte, s.size)
	binary.BigEndian.PutUint64(v, uint64(k))
	s.val.Update(v)
	s.count.Done()
	return nil
}

func buildStateJob(env *weir.Environment, keys int64, size int, wg *sync.WaitGroup) {
	src := weir.FromSource(env, keySource{n: keys}, weir.NoWatermarks[int64]()).UID("keys")
	stored := weir.Process(weir.KeyBy(src, func(k int64) int64 { return k }), &store{size: size, count: wg}).UID("store")
	weir.To(stored, discardSink[int64]{}).UID("out")
}

type discardSink[T any] struct{}

func (discardSink[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	return discardSink[T]{}, nil
}
func (discardSink[T]) Write(T) error { return nil }
func (discardSink[T]) Flush() error  { return nil }
func (discardSink[T]) Close() error  { return nil }

// diskSpeed writes size bytes sequentially, fdatasyncs, and reads them back.
func diskSpeed(dir string, size int64) (write, read float64, err error) {
	path := filepath.Join(dir, "disk-probe")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 131)
	}
	start := time.Now()
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, 0, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, 0, err
	}
	write = float64(size) / 1e6 / time.Since(start).Seconds()
	f.Close()
	f, err = os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	start = time.Now()
	n, err := io.CopyBuffer(io.Discard, f, buf)
	if err != nil {
		return 0, 0, err
	}
	read = float64(n) / 1e6 / time.Since(start).Seconds()
	return write, read, nil
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// State measures savepoint write and restore of a large keyed state.
func State(o StateOptions) (*StateResult, error) {
	r := &StateResult{SnapshotParallel: o.Parallelism, RestoreParallel: o.RestoreParallelism, KeysWritten: o.Keys, ValueBytesPerKey: o.ValueBytes}
	var wg sync.WaitGroup
	wg.Add(int(o.Keys))
	env := weir.NewEnvironment(weir.WithParallelism(o.Parallelism), weir.WithSavepointDir(o.Dir))
	buildStateJob(env, o.Keys, o.ValueBytes, &wg)
	job, err := env.ExecuteAsync(context.Background(), "state-bench")
	if err != nil {
		return nil, err
	}
	wg.Wait() // every key stored
	start := time.Now()
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	if err != nil {
		return nil, err
	}
	r.SavepointTime = time.Since(start)
	r.MaxSyncPause = job.LastSnapshot().MaxSyncPause
	r.SavepointDirBytes = dirBytes(path)
	r.StateBytes = r.SavepointDirBytes
	r.SavepointWrite = float64(r.StateBytes) / 1e6 / r.SavepointTime.Seconds()

	// Bytes read per new subtask, through the format's range reads.
	s, err := format.Open(path)
	if err != nil {
		return nil, err
	}
	var op format.OperatorID
	for _, m := range s.Metadata().Operators {
		if m.UID == "store" {
			op = m.ID
		}
	}
	for i := 0; i < o.RestoreParallelism; i++ {
		var st format.ReadStats
		if err := s.ReadKeyed(op, "payload", keyspace.RangeOf(i, o.RestoreParallelism), func(backend.Entry) error { return nil }, format.WithStats(&st)); err != nil {
			return nil, err
		}
		r.BytesPerSubtask = append(r.BytesPerSubtask, int64(st.Bytes))
		r.FilesTotal += int64(st.Bytes)
	}

	// Restore: engine start (which loads the state) at the new parallelism.
	var wg2 sync.WaitGroup
	env2 := weir.NewEnvironment(weir.WithParallelism(o.RestoreParallelism), weir.FromSavepoint(path))
	buildStateJob(env2, 0, o.ValueBytes, &wg2)
	start = time.Now()
	job2, err := env2.ExecuteAsync(context.Background(), "state-bench-restore")
	if err != nil {
		return nil, err
	}
	r.RestoreTime = time.Since(start)
	job2.Cancel()
	_ = job2.Wait()
	r.RestoreRead = float64(r.StateBytes) / 1e6 / r.RestoreTime.Seconds()

	if r.DiskWrite, r.DiskRead, err = diskSpeed(o.Dir, max(r.StateBytes, 256<<20)); err != nil {
		return nil, err
	}
	r.WriteDiskRatio = r.SavepointWrite / r.DiskWrite
	r.RestoreDiskRatio = r.RestoreRead / r.DiskRead
	return r, nil
}

// PrintState writes the state benchmark's figures.
func PrintState(w io.Writer, r *StateResult) {
	fmt.Fprintf(w, "keyed state: %d keys x %d-byte values; savepoint data %d MB (p=%d), restored at p=%d\n",
		r.KeysWritten, r.ValueBytesPerKey, r.StateBytes/1e6, r.SnapshotParallel, r.RestoreParallel)
	fmt.Fprintf(w, "disk (same run): fdatasync'd sequential write %.0f MB/s, sequential read (page cache warm) %.0f MB/s\n", r.DiskWrite, r.DiskRead)
	fmt.Fprintf(w, "savepoint write: %v, %.0f MB/s = %.2f x disk write (target >= 0.80)\n", r.SavepointTime.Round(time.Millisecond), r.SavepointWrite, r.WriteDiskRatio)
	fmt.Fprintf(w, "longest synchronous pause of a task: %v (target <= 5ms)\n", r.MaxSyncPause.Round(time.Microsecond))
	fmt.Fprintf(w, "restore (open + load into the heap backend): %v, %.0f MB/s = %.2f x disk read (target >= 0.80)\n", r.RestoreTime.Round(time.Millisecond), r.RestoreRead, r.RestoreDiskRatio)
	fmt.Fprintf(w, "bytes read per subtask at p=%d:", r.RestoreParallel)
	for _, b := range r.BytesPerSubtask {
		fmt.Fprintf(w, " %.1f MB", float64(b)/1e6)
	}
	fmt.Fprintf(w, " (total %.1f MB of %.1f MB on disk)\n", float64(r.FilesTotal)/1e6, float64(r.StateBytes)/1e6)
}
