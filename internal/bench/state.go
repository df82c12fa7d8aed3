package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
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
	Keys int64
	// ValueBytes is the size of each key's value.
	ValueBytes int
	// Parallelism of the job that takes the savepoint.
	Parallelism int
	// RestoreParallelism is the parallelism restored at.
	RestoreParallelism int
	// MinProbeBytes is the smallest disk probe file; 0 means 256 MiB. Tests
	// set it lower to stay fast; a real measurement should leave it at 0.
	MinProbeBytes int64
	// Profile, if set, is a path prefix: the CPU profiles of the savepoint
	// and of the cold restore are written to Profile+"-savepoint.pprof" and
	// Profile+"-restore.pprof", and their execution traces to the same
	// names ending in ".trace".
	Profile string
	// RestoreCommand, if set, is a command that runs RestoreChild in a new
	// process (a test binary and the flags that select a test calling it):
	// the cold restore is then also measured in a process that has not
	// used any memory yet, as a job restored from a savepoint starts.
	RestoreCommand []string
	// CopyFiles makes the restores read the savepoint's files into memory
	// instead of mapping them (weir.WithRestoreCopy), for comparison.
	CopyFiles bool
}

// DiskProbe is one measurement of the disk's own sequential speed.
type DiskProbe struct {
	// Bytes is the size of the probe file.
	Bytes int64
	// Write is MB/s writing Bytes sequentially in 1 MiB writes, fdatasync
	// included.
	Write float64
	// ColdRead is MB/s reading the file back sequentially after it was
	// evicted from the page cache (fadvise DONTNEED): the disk's read speed.
	ColdRead float64
	// WarmRead is MB/s reading it a second time, from the page cache.
	WarmRead float64
	// ResidentAfterEvict is how many bytes of the file were still in the page
	// cache after the eviction (mincore); -1 if unknown.
	ResidentAfterEvict int64
}

// StateResult is what the savepoint benchmark measured. MB/s are 10^6 bytes
// per second.
type StateResult struct {
	// KeysWritten is the number of keys in the state.
	KeysWritten int64
	// ValueBytesPerKey is the size of each key's value.
	ValueBytesPerKey int
	// SnapshotParallel is the parallelism the savepoint was taken at.
	SnapshotParallel int
	// RestoreParallel is the parallelism the savepoint was restored at.
	RestoreParallel int
	// CopyFiles is StateOptions.CopyFiles.
	CopyFiles bool
	// StateBytes is the size of the savepoint directory (data files and
	// _metadata); the throughputs below are StateBytes over a duration.
	StateBytes int64
	// SavepointDirBytes is the same as StateBytes.
	SavepointDirBytes int64

	// DiskBefore is the disk probe run before the job starts; its size is
	// the expected state size Keys*(ValueBytes+24), clamped to
	// [MinProbeBytes, 1 GiB].
	DiskBefore DiskProbe
	// DiskAfter is the disk probe run after the restores; its size is
	// max(StateBytes, MinProbeBytes).
	DiskAfter DiskProbe
	// DiskWrite is the mean of the two probes' fdatasync'd write speeds, the
	// reference for SavepointWrite.
	DiskWrite float64
	// DiskRead is the mean of the two probes' cold (page cache evicted) read
	// speeds, the reference for RestoreRead.
	DiskRead float64
	// DiskWarmRead is the mean of the two probes' warm (page cache) read
	// speeds, for information.
	DiskWarmRead float64
	// FreshMemory is MB/s of faulting in memory the process never used,
	// as much as the state's size, measured before the job and after the
	// restores (mean); -1 where it is not measured. For information: a
	// restore pays it for the memory that holds the state, and on a
	// virtual machine it can be slower than the disk.
	FreshMemory float64

	// SavepointWrite is MB/s of the savepoint, trigger to completion.
	SavepointWrite float64
	// SavepointTime is the time from trigger to the savepoint's completion.
	SavepointTime time.Duration
	// SavepointCPU is the CPU time (user and system) the process used
	// during the savepoint: steadier than SavepointTime on a noisy disk, for
	// comparing code.
	SavepointCPU time.Duration
	// MaxSyncPause is the longest synchronous phase of a task.
	MaxSyncPause time.Duration
	// WriteDiskRatio is SavepointWrite / DiskWrite (target >= 0.80).
	WriteDiskRatio float64

	// ResidentBeforeRestore is how many bytes of the savepoint were still in
	// the page cache when the cold restore started; -1 if unknown.
	ResidentBeforeRestore int64
	// ResidentBeforeFresh is ResidentBeforeRestore for the restore in a new
	// process.
	ResidentBeforeFresh int64
	// RestoreRead is MB/s restoring the whole state at RestoreParallelism
	// with the savepoint's files evicted from the page cache (cold).
	RestoreRead float64
	// RestoreTime is the duration of the cold restore.
	RestoreTime time.Duration
	// RestoreCPU is the CPU time the process used during the cold restore.
	RestoreCPU time.Duration
	// RestoreDiskRatio is RestoreRead / DiskRead (target >= 0.80).
	RestoreDiskRatio float64
	// WarmRestoreRead is MB/s of a second restore, with the savepoint's files
	// in the page cache; for information.
	WarmRestoreRead float64
	// WarmRestoreTime is the duration of the warm restore.
	WarmRestoreTime time.Duration
	// FreshRestoreTime and FreshRestoreCPU are the cold restore's duration
	// and CPU time in a new process (StateOptions.RestoreCommand), which
	// pays the first touch of every page of memory the state fills; 0 if
	// not measured. FreshRestoreRead is MB/s and FreshRestoreDiskRatio its
	// ratio to DiskRead.
	FreshRestoreTime, FreshRestoreCPU time.Duration
	FreshRestoreRead                  float64
	FreshRestoreDiskRatio             float64

	// BytesPerSubtask is the bytes each new subtask reads at
	// RestoreParallelism, through the format's range reads.
	BytesPerSubtask []int64
	// FilesTotal is the sum of BytesPerSubtask.
	FilesTotal int64
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

// diskSpeed measures the disk with a probe file of size bytes in dir: it
// writes the file sequentially in 1 MiB writes and fdatasyncs it (write
// speed), evicts it from the page cache and reads it back sequentially (cold
// read speed, the disk's), then reads it again (warm read speed, the page
// cache's).
func diskSpeed(dir string, size int64) (p DiskProbe, err error) {
	const chunk = 1 << 20
	size = (size + chunk - 1) / chunk * chunk
	p.Bytes = size
	path := filepath.Join(dir, "disk-probe")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return p, err
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 131)
	}
	start := time.Now()
	for n := int64(0); n < size; n += chunk {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return p, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return p, err
	}
	p.Write = mbps(size, time.Since(start))
	err = evict(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p, err
	}
	if p.ResidentAfterEvict, err = residentBytes(path); err != nil {
		return p, err
	}
	if p.ColdRead, err = readSpeed(path, buf); err != nil {
		return p, err
	}
	if p.WarmRead, err = readSpeed(path, buf); err != nil {
		return p, err
	}
	return p, nil
}

// readSpeed reads the file at path sequentially through buf and returns the
// MB/s.
func readSpeed(path string, buf []byte) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, onlyReader{f}, buf)
	if err != nil {
		return 0, err
	}
	return mbps(n, time.Since(start)), nil
}

// onlyReader hides *os.File's WriterTo so that io.CopyBuffer reads through
// the given buffer.
type onlyReader struct{ io.Reader }

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// evictDir evicts every regular file under dir from the page cache and
// returns how many of their bytes are still cached afterwards (-1 if
// unknown).
func evictDir(dir string) (resident int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = evict(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("evict %s: %w", path, err)
		}
		n, err := residentBytes(path)
		if err != nil || n < 0 || resident < 0 {
			resident = -1
			return err
		}
		resident += n
		return nil
	})
	return resident, err
}

// startProfile starts a CPU profile written to prefix+"-"+phase+".pprof"
// and an execution trace written to prefix+"-"+phase+".trace" (where the
// goroutines wait: `go tool trace`), and returns the function that ends
// both; with an empty prefix it does nothing.
func startProfile(prefix, phase string) (stop func() error, err error) {
	if prefix == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(prefix + "-" + phase + ".pprof")
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	tf, err := os.Create(prefix + "-" + phase + ".trace")
	if err == nil {
		if err = trace.Start(tf); err != nil {
			_ = tf.Close()
		}
	}
	if err != nil {
		pprof.StopCPUProfile()
		_ = f.Close()
		return nil, fmt.Errorf("bench: trace: %w", err)
	}
	return func() error {
		trace.Stop()
		pprof.StopCPUProfile()
		return errors.Join(tf.Close(), f.Close())
	}, nil
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

// State measures savepoint write and restore of a large keyed state against
// the disk's own speed, measured twice in the same run (before the job and
// after the restores) because the disk's speed varies.
func State(o StateOptions) (*StateResult, error) {
	r := &StateResult{SnapshotParallel: o.Parallelism, RestoreParallel: o.RestoreParallelism, CopyFiles: o.CopyFiles, KeysWritten: o.Keys, ValueBytesPerKey: o.ValueBytes}
	minProbe := o.MinProbeBytes
	if minProbe <= 0 {
		minProbe = 256 << 20
	}
	// First probe: the expected state size (value plus ~24 bytes of key and
	// framing per entry), at least minProbe, at most 1 GiB so that a large
	// state does not double the run's disk use before it starts.
	var err error
	probeBytes := max(minProbe, min(o.Keys*int64(o.ValueBytes+24), 1<<30))
	if r.DiskBefore, err = diskSpeed(o.Dir, probeBytes); err != nil {
		return nil, err
	}
	memBefore, err := freshMemory(probeBytes)
	if err != nil {
		return nil, err
	}

	var wg sync.WaitGroup
	wg.Add(int(o.Keys))
	env := weir.NewEnvironment(weir.WithParallelism(o.Parallelism), weir.WithSavepointDir(o.Dir))
	buildStateJob(env, o.Keys, o.ValueBytes, &wg)
	job, err := env.ExecuteAsync(context.Background(), "state-bench")
	if err != nil {
		return nil, err
	}
	wg.Wait() // every key stored
	// A collection that the job's own allocations made due would
	// otherwise fall into the savepoint's timing or not, at random (marking
	// 16 M values costs about 2 CPU-seconds): run it before, as the restore
	// does.
	runtime.GC()
	stopProfile, err := startProfile(o.Profile, "savepoint")
	if err != nil {
		return nil, err
	}
	start, cpu := time.Now(), cpuTime()
	path, err := job.StopWithSavepoint(context.Background(), "", false)
	r.SavepointTime, r.SavepointCPU = time.Since(start), cpuTime()-cpu
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	r.MaxSyncPause = job.LastSnapshot().MaxSyncPause
	r.SavepointDirBytes = dirBytes(path)
	r.StateBytes = r.SavepointDirBytes
	r.SavepointWrite = mbps(r.StateBytes, r.SavepointTime)

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

	// Cold restore: the savepoint's files are evicted from the page cache so
	// that the restore reads them from the disk.
	if r.ResidentBeforeRestore, err = evictDir(path); err != nil {
		return nil, err
	}
	if r.RestoreTime, r.RestoreCPU, err = restore(path, o, o.Profile); err != nil {
		return nil, err
	}
	r.RestoreRead = mbps(r.StateBytes, r.RestoreTime)
	// Warm restore: the cold one left the files in the page cache.
	if r.WarmRestoreTime, _, err = restore(path, o, ""); err != nil {
		return nil, err
	}
	r.WarmRestoreRead = mbps(r.StateBytes, r.WarmRestoreTime)
	if len(o.RestoreCommand) > 0 {
		// The restores above mapped the files, and mapped pages stay
		// cached until unmapped, which their cleanups do once the
		// collector finds the mappings unreachable.
		for try := 0; ; try++ {
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // let the cleanups run
			if r.ResidentBeforeFresh, err = evictDir(path); err != nil {
				return nil, err
			}
			if r.ResidentBeforeFresh <= 0 || try == 20 {
				break
			}
		}
		if r.FreshRestoreTime, r.FreshRestoreCPU, err = restoreInChild(path, o); err != nil {
			return nil, err
		}
		r.FreshRestoreRead = mbps(r.StateBytes, r.FreshRestoreTime)
	}

	if r.DiskAfter, err = diskSpeed(o.Dir, max(r.StateBytes, minProbe)); err != nil {
		return nil, err
	}
	r.DiskWrite = (r.DiskBefore.Write + r.DiskAfter.Write) / 2
	r.DiskRead = (r.DiskBefore.ColdRead + r.DiskAfter.ColdRead) / 2
	r.DiskWarmRead = (r.DiskBefore.WarmRead + r.DiskAfter.WarmRead) / 2
	memAfter, err := freshMemory(probeBytes)
	if err != nil {
		return nil, err
	}
	r.FreshMemory = (memBefore + memAfter) / 2
	r.WriteDiskRatio = r.SavepointWrite / r.DiskWrite
	r.RestoreDiskRatio = r.RestoreRead / r.DiskRead
	r.FreshRestoreDiskRatio = r.FreshRestoreRead / r.DiskRead
	return r, nil
}

// The parent and the child of a restore in a new process agree through
// environment variables (childEnv: the savepoint's path; childEnvArgs:
// "parallelism value-bytes copy-files"; childEnvProfile: the prefix of the
// child's profiles, if the parent profiles) and one line of the child's
// standard output (childPrefix, then the restore's duration and CPU time
// in nanoseconds).
const (
	childEnv        = "WEIR_STATE_BENCH_RESTORE_CHILD"
	childEnvArgs    = "WEIR_STATE_BENCH_RESTORE_CHILD_ARGS"
	childEnvProfile = "WEIR_STATE_BENCH_RESTORE_CHILD_PROFILE"
	childPrefix     = "weir-restore-child:"
)

// restoreInChild runs o.RestoreCommand to restore the savepoint at path in
// a new process and returns what the child measured.
func restoreInChild(path string, o StateOptions) (d, cpu time.Duration, err error) {
	cmd := exec.Command(o.RestoreCommand[0], o.RestoreCommand[1:]...)
	cmd.Env = append(os.Environ(),
		childEnv+"="+path,
		fmt.Sprintf("%s=%d %d %t", childEnvArgs, o.RestoreParallelism, o.ValueBytes, o.CopyFiles))
	if o.Profile != "" {
		cmd.Env = append(cmd.Env, childEnvProfile+"="+o.Profile+"-fresh")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("bench: restore in a new process: %w\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, childPrefix); ok {
			if _, err := fmt.Sscan(rest, &d, &cpu); err != nil {
				return 0, 0, fmt.Errorf("bench: restore in a new process: %q: %w", line, err)
			}
			return d, cpu, nil
		}
	}
	return 0, 0, fmt.Errorf("bench: restore in a new process printed no result:\n%s", out)
}

// RestoreChild is the child's side of StateOptions.RestoreCommand: if the
// parent's environment variables are set, it restores the savepoint they
// name, writes the result line to w and reports true; otherwise it reports
// false.
func RestoreChild(w io.Writer) (bool, error) {
	path := os.Getenv(childEnv)
	if path == "" {
		return false, nil
	}
	o := StateOptions{Profile: os.Getenv(childEnvProfile)}
	if _, err := fmt.Sscan(os.Getenv(childEnvArgs), &o.RestoreParallelism, &o.ValueBytes, &o.CopyFiles); err != nil {
		return true, fmt.Errorf("bench: %s=%q: want the parallelism, the value bytes and whether to copy files: %w", childEnvArgs, os.Getenv(childEnvArgs), err)
	}
	d, cpu, err := restore(path, o, o.Profile)
	if err != nil {
		return true, err
	}
	_, err = fmt.Fprintf(w, "%s %d %d\n", childPrefix, d, cpu)
	return true, err
}

// restore times an engine start (which loads the state) from the savepoint
// at path at o.RestoreParallelism, profiling it under the prefix profile if
// that is set.
func restore(path string, o StateOptions, profile string) (d, cpu time.Duration, err error) {
	runtime.GC() // leave the previous phase's garbage out of the timing
	var wg sync.WaitGroup
	opts := []weir.Option{weir.WithParallelism(o.RestoreParallelism), weir.FromSavepoint(path)}
	if o.CopyFiles {
		opts = append(opts, weir.WithRestoreCopy())
	}
	env := weir.NewEnvironment(opts...)
	buildStateJob(env, 0, o.ValueBytes, &wg)
	stopProfile, err := startProfile(profile, "restore")
	if err != nil {
		return 0, 0, err
	}
	start, cpu0 := time.Now(), cpuTime()
	job, err := env.ExecuteAsync(context.Background(), "state-bench-restore")
	d, cpu = time.Since(start), cpuTime()-cpu0
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return 0, 0, err
	}
	job.Cancel()
	_ = job.Wait()
	return d, cpu, nil
}

// PrintState writes the state benchmark's figures.
func PrintState(w io.Writer, r *StateResult) {
	how := "mapping its files"
	if r.CopyFiles {
		how = "copying its files into memory (WithRestoreCopy)"
	}
	fmt.Fprintf(w, "keyed state: %d keys x %d-byte values; savepoint data %d MB (p=%d), restored at p=%d %s\n",
		r.KeysWritten, r.ValueBytesPerKey, r.StateBytes/1e6, r.SnapshotParallel, r.RestoreParallel, how)
	fmt.Fprintf(w, "disk (same run; probes of %d MB before the job, %d MB after the restores):\n",
		r.DiskBefore.Bytes/1e6, r.DiskAfter.Bytes/1e6)
	fmt.Fprintf(w, "  fdatasync'd sequential write: before %.0f, after %.0f, mean %.0f MB/s\n",
		r.DiskBefore.Write, r.DiskAfter.Write, r.DiskWrite)
	fmt.Fprintf(w, "  sequential read, page cache evicted (cold): before %.0f, after %.0f, mean %.0f MB/s%s\n",
		r.DiskBefore.ColdRead, r.DiskAfter.ColdRead, r.DiskRead, residentNote(r.DiskBefore.ResidentAfterEvict+max(r.DiskAfter.ResidentAfterEvict, 0)))
	fmt.Fprintf(w, "  sequential read, page cache warm: before %.0f, after %.0f, mean %.0f MB/s (information)\n",
		r.DiskBefore.WarmRead, r.DiskAfter.WarmRead, r.DiskWarmRead)
	if r.FreshMemory >= 0 {
		fmt.Fprintf(w, "memory never used before, faulted in: %.0f MB/s (mean of 2 probes; information)\n", r.FreshMemory)
	}
	fmt.Fprintf(w, "savepoint write: %v, %.0f MB/s = %.2f x disk write (target >= 0.80); CPU %v\n", r.SavepointTime.Round(time.Millisecond), r.SavepointWrite, r.WriteDiskRatio, r.SavepointCPU.Round(time.Millisecond))
	fmt.Fprintf(w, "longest synchronous pause of a task: %v (target <= 5ms)\n", r.MaxSyncPause.Round(time.Microsecond))
	fmt.Fprintf(w, "restore, cold (open + load into the heap backend): %v, %.0f MB/s = %.2f x disk cold read (target >= 0.80); CPU %v%s\n",
		r.RestoreTime.Round(time.Millisecond), r.RestoreRead, r.RestoreDiskRatio, r.RestoreCPU.Round(time.Millisecond), residentNote(r.ResidentBeforeRestore))
	fmt.Fprintf(w, "restore, warm (savepoint in the page cache): %v, %.0f MB/s (information)\n", r.WarmRestoreTime.Round(time.Millisecond), r.WarmRestoreRead)
	if r.FreshRestoreTime > 0 {
		fmt.Fprintf(w, "restore, cold, in a new process (how a restored job starts): %v, %.0f MB/s = %.2f x disk cold read (target >= 0.80); CPU %v%s\n",
			r.FreshRestoreTime.Round(time.Millisecond), r.FreshRestoreRead, r.FreshRestoreDiskRatio, r.FreshRestoreCPU.Round(time.Millisecond), residentNote(r.ResidentBeforeFresh))
	}
	fmt.Fprintf(w, "bytes read per subtask at p=%d:", r.RestoreParallel)
	for _, b := range r.BytesPerSubtask {
		fmt.Fprintf(w, " %.1f MB", float64(b)/1e6)
	}
	fmt.Fprintf(w, " (total %.1f MB of %.1f MB on disk)\n", float64(r.FilesTotal)/1e6, float64(r.StateBytes)/1e6)
}

// residentNote says how much was still cached after an eviction, or that
// eviction is not available.
func residentNote(resident int64) string {
	switch {
	case !canEvict || resident < 0:
		return " [page cache eviction unavailable: reads may be warm]"
	case resident == 0:
		return ""
	default:
		return fmt.Sprintf(" [%.1f MB still cached after eviction]", float64(resident)/1e6)
	}
}
