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
	"slices"
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
	// Rounds is the number of rounds of paired measurements (StateResult);
	// 0 means 6, so that each of a pair goes first as often as the other.
	Rounds int
	// MinProbeBytes is the smallest disk probe file; 0 means 256 MiB. Tests
	// set it lower to stay fast; a real measurement should leave it at 0.
	MinProbeBytes int64
	// Profile, if set, is a path prefix: the CPU profiles of the first
	// round's savepoint and cold restore are written to
	// Profile+"-savepoint.pprof" and Profile+"-restore.pprof" (or
	// Profile+"-fresh-restore.pprof" for a restore in a new process), and
	// their execution traces to the same names ending in ".trace".
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
	// Bytes is the size of the probe file: its content (a savepoint's
	// bytes), repeated up to at least StateOptions.MinProbeBytes.
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
//
// The disk's speed on a virtual machine varies from one second to the next
// (bursts absorbed by the host, then its sustained rate), so a savepoint and
// a probe taken tens of seconds apart compare the code with the weather.
// The benchmark therefore measures in rounds: each round writes a
// savepoint and, right next to it, a probe file of a savepoint's own bytes
// (writeProbe), then
// restores that savepoint cold and reads the probe back cold, alternating
// which of each pair goes first from round to round. The targets are read
// off the medians of the rounds' paired ratios.
type StateResult struct {
	// KeysWritten is the number of keys in the state.
	KeysWritten int64
	// ValueBytesPerKey is the size of each key's value.
	ValueBytesPerKey int
	// SnapshotParallel is the parallelism the savepoints were taken at.
	SnapshotParallel int
	// RestoreParallel is the parallelism they were restored at.
	RestoreParallel int
	// CopyFiles is StateOptions.CopyFiles.
	CopyFiles bool
	// StateBytes is the size of the last savepoint's directory (data files
	// and _metadata); the throughputs below are a savepoint's size over a
	// duration.
	StateBytes int64

	// Rounds are the paired measurements, in order.
	Rounds []StateRound
	// WriteDiskRatio is the median of the rounds' WriteDiskRatio (target
	// >= 0.80).
	WriteDiskRatio float64
	// RestoreDiskRatio is the median of the rounds' RestoreDiskRatio
	// (target >= 0.80): the restore in a new process where
	// StateOptions.RestoreCommand is set, in the benchmark's own process
	// otherwise.
	RestoreDiskRatio float64
	// MaxSyncPause is the longest synchronous phase of a task over every
	// round.
	MaxSyncPause time.Duration
	// DiskWrite, DiskRead and DiskWarmRead are the medians of the rounds'
	// probes, for information.
	DiskWrite, DiskRead, DiskWarmRead float64
	// FreshMemory is MB/s of faulting in memory the process never used,
	// as much as the state's size, measured before the job and after the
	// restores (mean); -1 where it is not measured. For information: a
	// restore pays it for the memory that holds the state, and on a
	// virtual machine it can be slower than the disk.
	FreshMemory float64

	// InProcessRestoreTime and InProcessRestoreCPU are a cold restore of
	// the last savepoint in the benchmark's own process, after the job was
	// cancelled (its memory is reused, unlike a new job's), and
	// InProcessRestoreRead its MB/s; for information.
	InProcessRestoreTime, InProcessRestoreCPU time.Duration
	InProcessRestoreRead                      float64
	// WarmRestoreTime and WarmRestoreRead are a second restore in the
	// benchmark's process, with the savepoint's files in the page cache;
	// for information.
	WarmRestoreTime time.Duration
	WarmRestoreRead float64

	// BytesPerSubtask is the bytes each new subtask reads at
	// RestoreParallelism, through the format's range reads.
	BytesPerSubtask []int64
	// FilesTotal is the sum of BytesPerSubtask.
	FilesTotal int64
}

// StateRound is one round of paired measurements (StateResult).
type StateRound struct {
	// ProbeFirst reports whether the round's write probe ran before its
	// savepoint and its read probe before its restore; rounds alternate.
	ProbeFirst bool
	// Disk is the round's probe: a file of a savepoint's bytes
	// (writeProbe).
	Disk DiskProbe

	// SavepointBytes is the size of the round's savepoint directory.
	SavepointBytes int64
	// SavepointTime is the time from trigger to the savepoint's completion,
	// and SavepointWrite its MB/s.
	SavepointTime  time.Duration
	SavepointWrite float64
	// SavepointCPU is the CPU time (user and system) the process used
	// during the savepoint: steadier than SavepointTime on a noisy disk, for
	// comparing code.
	SavepointCPU time.Duration
	// MaxSyncPause is the savepoint's longest synchronous phase of a task.
	MaxSyncPause time.Duration
	// WriteDiskRatio is SavepointWrite / Disk.Write.
	WriteDiskRatio float64

	// RestoreTime and RestoreCPU are the cold restore's duration and CPU
	// time at RestoreParallelism: in a new process where
	// StateOptions.RestoreCommand is set (which pays the first touch of
	// every page of memory the state fills, as a restored job does),
	// otherwise in the benchmark's process. RestoreRead is its MB/s.
	RestoreTime, RestoreCPU time.Duration
	RestoreRead             float64
	// InNewProcess reports whether the restore ran in a new process.
	InNewProcess bool
	// ResidentBeforeRestore is how many bytes of the savepoint were still
	// in the page cache when the restore started; -1 if unknown.
	ResidentBeforeRestore int64
	// RestoreDiskRatio is RestoreRead / Disk.ColdRead.
	RestoreDiskRatio float64
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

// writeProbe measures the disk's write speed with a probe file at path
// that holds content, repeated up to at least size bytes: it writes the
// file sequentially in 1 MiB writes and fdatasyncs it. The file stays for
// readProbe.
//
// The content matters: this VM's disk writes data that compresses or
// repeats much faster than data that does not (measured: a 1 MiB buffer
// with a 256-byte period written over and over at 713–1,023 MB/s, random
// bytes at 514–606 MB/s, alternated in one run; a 48-byte savepoint's own
// bytes at 1,017–1,158 MB/s in the benchmark). A probe of made-up bytes
// would measure that, not the disk's speed for a savepoint, so State gives
// it a savepoint's own bytes.
func writeProbe(path string, content []byte, size int64) (p DiskProbe, err error) {
	const chunk = 1 << 20
	f, err := os.Create(path)
	if err != nil {
		return p, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	start := time.Now()
	for p.Bytes < size {
		for b := content; len(b) > 0; b = b[min(chunk, len(b)):] {
			n, err := f.Write(b[:min(chunk, len(b))])
			p.Bytes += int64(n)
			if err != nil {
				return p, err
			}
		}
	}
	if err := f.Sync(); err != nil {
		return p, err
	}
	p.Write = mbps(p.Bytes, time.Since(start))
	return p, nil
}

// readProbe reads the probe file at path, evicted from the page cache
// before (evictPath), sequentially twice: the first read is the disk's
// (ColdRead), the second the page cache's (WarmRead).
func readProbe(path string, p *DiskProbe) (err error) {
	if p.ResidentAfterEvict, err = residentBytes(path); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	if p.ColdRead, err = readSpeed(path, buf); err != nil {
		return err
	}
	p.WarmRead, err = readSpeed(path, buf)
	return err
}

// evictPath evicts the file at path from the page cache.
func evictPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = evict(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
		if err := evictPath(path); err != nil {
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
// the disk's own speed, in rounds of paired measurements (StateResult).
// The job's first savepoint is not measured: it gives the probes their
// bytes (writeProbe).
func State(o StateOptions) (*StateResult, error) {
	r := &StateResult{SnapshotParallel: o.Parallelism, RestoreParallel: o.RestoreParallelism, CopyFiles: o.CopyFiles, KeysWritten: o.Keys, ValueBytesPerKey: o.ValueBytes}
	minProbe := o.MinProbeBytes
	if minProbe <= 0 {
		minProbe = 256 << 20
	}
	rounds := o.Rounds
	if rounds <= 0 {
		rounds = 6
	}
	// The expected state size: value plus ~24 bytes of key and framing per
	// entry.
	expected := max(minProbe, o.Keys*int64(o.ValueBytes+24))
	memBefore, err := freshMemory(min(expected, 1<<30))
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
	defer func() { job.Cancel(); _ = job.Wait() }()
	wg.Wait() // every key stored

	// A first savepoint, not measured, gives the probes their bytes
	// (writeProbe).
	path, err := job.TriggerSavepoint(context.Background(), "")
	if err != nil {
		return nil, err
	}
	content, err := dirContent(path)
	if err != nil {
		return nil, err
	}
	// And a first probe, not measured either, so that the probes write into
	// page cache memory already in use, as the savepoints after the first
	// do: on this VM the first writes through the page cache after the job
	// filled its memory ran at the speed of faulting in fresh memory
	// (241–375 MB/s in the first round of nine runs, 836–1,315 MB/s in the
	// rounds after).
	probePath := filepath.Join(o.Dir, "disk-probe")
	if _, err := writeProbe(probePath, content, minProbe); err != nil {
		return nil, err
	}
	if err := os.Remove(probePath); err != nil {
		return nil, err
	}
	for i := 0; i < rounds; i++ {
		if err := os.RemoveAll(path); err != nil {
			return nil, err
		}
		rd := StateRound{ProbeFirst: i%2 == 0}
		if rd.ProbeFirst {
			if rd.Disk, err = writeProbe(probePath, content, minProbe); err != nil {
				return nil, err
			}
		}
		profile := ""
		if i == 0 {
			profile = o.Profile
		}
		if path, err = savepoint(job, &rd, profile); err != nil {
			return nil, err
		}
		if !rd.ProbeFirst {
			if rd.Disk, err = writeProbe(probePath, content, minProbe); err != nil {
				return nil, err
			}
		}
		r.StateBytes = rd.SavepointBytes
		rd.WriteDiskRatio = rd.SavepointWrite / rd.Disk.Write

		// Both files are evicted from the page cache, so that the probe
		// and the restore read from the disk.
		if err := evictPath(probePath); err != nil {
			return nil, err
		}
		if rd.ResidentBeforeRestore, err = evictDir(path); err != nil {
			return nil, err
		}
		if rd.ProbeFirst {
			if err := readProbe(probePath, &rd.Disk); err != nil {
				return nil, err
			}
		}
		if err := restoreRound(path, o, &rd, profile); err != nil {
			return nil, err
		}
		if !rd.ProbeFirst {
			if err := readProbe(probePath, &rd.Disk); err != nil {
				return nil, err
			}
		}
		if err := os.Remove(probePath); err != nil {
			return nil, err
		}
		rd.RestoreRead = mbps(rd.SavepointBytes, rd.RestoreTime)
		rd.RestoreDiskRatio = rd.RestoreRead / rd.Disk.ColdRead
		r.MaxSyncPause = max(r.MaxSyncPause, rd.MaxSyncPause)
		r.Rounds = append(r.Rounds, rd)
	}
	r.WriteDiskRatio = median(r.Rounds, func(rd StateRound) float64 { return rd.WriteDiskRatio })
	r.RestoreDiskRatio = median(r.Rounds, func(rd StateRound) float64 { return rd.RestoreDiskRatio })
	r.DiskWrite = median(r.Rounds, func(rd StateRound) float64 { return rd.Disk.Write })
	r.DiskRead = median(r.Rounds, func(rd StateRound) float64 { return rd.Disk.ColdRead })
	r.DiskWarmRead = median(r.Rounds, func(rd StateRound) float64 { return rd.Disk.WarmRead })
	job.Cancel()
	if err := job.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("bench: the job failed: %w", err)
	}

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

	// For information: a cold and then a warm restore in this process.
	if _, err := evictMapped(path); err != nil {
		return nil, err
	}
	if r.InProcessRestoreTime, r.InProcessRestoreCPU, err = restore(path, o, ""); err != nil {
		return nil, err
	}
	r.InProcessRestoreRead = mbps(r.StateBytes, r.InProcessRestoreTime)
	if r.WarmRestoreTime, _, err = restore(path, o, ""); err != nil {
		return nil, err
	}
	r.WarmRestoreRead = mbps(r.StateBytes, r.WarmRestoreTime)

	memAfter, err := freshMemory(min(expected, 1<<30))
	if err != nil {
		return nil, err
	}
	r.FreshMemory = (memBefore + memAfter) / 2
	return r, nil
}

// savepoint triggers a savepoint of the running job into its savepoint
// directory and records its figures in rd, profiling it under the prefix
// profile if that is set.
func savepoint(job *weir.JobClient, rd *StateRound, profile string) (string, error) {
	// A collection that the previous phase made due would otherwise fall
	// into the savepoint's timing or not, at random (marking 16 M values
	// costs about 2 CPU-seconds): run it before.
	runtime.GC()
	stopProfile, err := startProfile(profile, "savepoint")
	if err != nil {
		return "", err
	}
	start, cpu := time.Now(), cpuTime()
	path, err := job.TriggerSavepoint(context.Background(), "")
	rd.SavepointTime, rd.SavepointCPU = time.Since(start), cpuTime()-cpu
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return "", err
	}
	rd.MaxSyncPause = job.LastSnapshot().MaxSyncPause
	rd.SavepointBytes = dirBytes(path)
	rd.SavepointWrite = mbps(rd.SavepointBytes, rd.SavepointTime)
	return path, nil
}

// restoreRound restores the savepoint at path cold, in a new process if
// o.RestoreCommand is set, and records its figures in rd.
func restoreRound(path string, o StateOptions, rd *StateRound, profile string) (err error) {
	if len(o.RestoreCommand) == 0 {
		rd.RestoreTime, rd.RestoreCPU, err = restore(path, o, profile)
		return err
	}
	rd.InNewProcess = true
	if profile != "" {
		profile += "-fresh"
	}
	rd.RestoreTime, rd.RestoreCPU, err = restoreInChild(path, o, profile)
	return err
}

// evictMapped evicts the savepoint's files at path from the page cache
// after the restores of this process let go of their mappings: mapped pages
// stay cached until unmapped, which the mappings' cleanups do once the
// collector finds them unreachable. It returns what stayed cached.
func evictMapped(path string) (resident int64, err error) {
	for try := 0; ; try++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // let the cleanups run
		if resident, err = evictDir(path); err != nil || resident <= 0 || try == 20 {
			return resident, err
		}
	}
}

// dirContent returns the bytes of every regular file under dir, one after
// another.
func dirContent(dir string) ([]byte, error) {
	var b []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.ReadFile(path)
		b = append(b, f...)
		return err
	})
	return b, err
}

// median returns the median of f over rounds (the mean of the middle two
// for an even count).
func median(rounds []StateRound, f func(StateRound) float64) float64 {
	if len(rounds) == 0 {
		return 0
	}
	v := make([]float64, len(rounds))
	for i, rd := range rounds {
		v[i] = f(rd)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
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
func restoreInChild(path string, o StateOptions, profile string) (d, cpu time.Duration, err error) {
	cmd := exec.Command(o.RestoreCommand[0], o.RestoreCommand[1:]...)
	cmd.Env = append(os.Environ(),
		childEnv+"="+path,
		fmt.Sprintf("%s=%d %d %t", childEnvArgs, o.RestoreParallelism, o.ValueBytes, o.CopyFiles))
	if profile != "" {
		cmd.Env = append(cmd.Env, childEnvProfile+"="+profile)
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
	where := "in the benchmark's process"
	if len(r.Rounds) > 0 && r.Rounds[0].InNewProcess {
		where = "in a new process, as a restored job starts"
	}
	fmt.Fprintf(w, "keyed state: %d keys x %d-byte values; savepoint data %d MB (p=%d), restored at p=%d %s\n",
		r.KeysWritten, r.ValueBytesPerKey, r.StateBytes/1e6, r.SnapshotParallel, r.RestoreParallel, how)
	fmt.Fprintf(w, "%d rounds; each pairs a savepoint with an fdatasync'd sequential write of a probe file of a savepoint's bytes, then its cold restore %s with a cold sequential read of the probe (page caches evicted); the probe goes first in odd rounds\n",
		len(r.Rounds), where)
	fmt.Fprintf(w, "round  probe write  savepoint write              CPU      sync pause  probe cold read  restore                      CPU\n")
	for i, rd := range r.Rounds {
		fmt.Fprintf(w, "%5d  %6.0f MB/s  %7v %5.0f MB/s = %.2f x  %7v  %8v    %6.0f MB/s%s  %7v %5.0f MB/s = %.2f x  %7v%s\n",
			i+1, rd.Disk.Write, rd.SavepointTime.Round(time.Millisecond), rd.SavepointWrite, rd.WriteDiskRatio, rd.SavepointCPU.Round(time.Millisecond),
			rd.MaxSyncPause.Round(time.Microsecond), rd.Disk.ColdRead, residentNote(rd.Disk.ResidentAfterEvict),
			rd.RestoreTime.Round(time.Millisecond), rd.RestoreRead, rd.RestoreDiskRatio, rd.RestoreCPU.Round(time.Millisecond), residentNote(rd.ResidentBeforeRestore))
	}
	fmt.Fprintf(w, "savepoint write: median %.2f x the disk's write (target >= 0.80)\n", r.WriteDiskRatio)
	fmt.Fprintf(w, "restore at p=%d, cold, %s: median %.2f x the disk's cold read (target >= 0.80)\n", r.RestoreParallel, where, r.RestoreDiskRatio)
	fmt.Fprintf(w, "longest synchronous pause of a task: %v (target <= 5ms)\n", r.MaxSyncPause.Round(time.Microsecond))
	fmt.Fprintf(w, "disk probes, medians: write %.0f MB/s, cold read %.0f MB/s, warm read %.0f MB/s (information)\n", r.DiskWrite, r.DiskRead, r.DiskWarmRead)
	if r.FreshMemory >= 0 {
		fmt.Fprintf(w, "memory never used before, faulted in: %.0f MB/s (mean of 2 probes; information)\n", r.FreshMemory)
	}
	fmt.Fprintf(w, "restore in the benchmark's process after the job, cold: %v, %.0f MB/s, CPU %v; warm: %v, %.0f MB/s (information)\n",
		r.InProcessRestoreTime.Round(time.Millisecond), r.InProcessRestoreRead, r.InProcessRestoreCPU.Round(time.Millisecond),
		r.WarmRestoreTime.Round(time.Millisecond), r.WarmRestoreRead)
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
