package weir_test

// Operations on a real embedded job (ExecuteAsync → *weir.JobClient): stop
// with and without --drain, cancel with savepoint, and the restore modes
// claim and no-claim with periodic checkpoints.
//
// Every job here reads a gated source: a bounded, replayable source that
// emits its records in order but never past a limit the test sets (a rate
// limit the test controls). A test waits until the source has emitted
// exactly the records it wants, then acts: the split point, the watermark
// at it and therefore which windows have fired are all exact.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/window"
)

const (
	opsRecords  = 120  // records of the gated source
	opsStep     = 250  // ms between consecutive records' timestamps
	opsWindowMs = 1000 // tumbling event-time window size
	opsStopAt   = 50   // records emitted when the first run is stopped
)

// opsData returns the source's records: record i has timestamp i*250 ms,
// key a, b or c in turn and value i+1. A 1 s window holds 4 records.
func opsData() []kv {
	recs := make([]kv, opsRecords)
	for i := range recs {
		recs[i] = kv{K: string(rune('a' + i%3)), TS: int64(i) * opsStep, V: int64(i + 1)}
	}
	return recs
}

// opsGatedSource emits recs in order, never past limit. Its single split's
// position is the index of the next record, so a restore resumes exactly
// where the snapshot was taken.
type opsGatedSource struct {
	recs    []kv
	limit   atomic.Int64
	pos     atomic.Int64 // the reader's position after its latest Read
	changed chan struct{}
	// onSnapshot, if set, runs at every barrier on the source's task, with
	// the position the snapshot records.
	onSnapshot func(pos int64)
}

func newOpsGatedSource(recs []kv, limit int64) *opsGatedSource {
	s := &opsGatedSource{recs: recs, changed: make(chan struct{}, 1)}
	s.limit.Store(limit)
	return s
}

func (s *opsGatedSource) Bounded() bool { return true }

func (s *opsGatedSource) Splits(int) ([][]byte, error) {
	return [][]byte{binary.AppendVarint(nil, 0)}, nil
}

func (s *opsGatedSource) NewReader(weir.SourceContext) (weir.SourceReader[kv], error) {
	return &opsGatedReader{s: s}, nil
}

// WaitPos waits until the reader has emitted every record before index n.
func (s *opsGatedSource) WaitPos(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for s.pos.Load() < n {
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("the source reached %d records, want %d", s.pos.Load(), n)
		}
	}
}

type opsGatedReader struct {
	s     *opsGatedSource
	pos   int64
	split bool
}

func (r *opsGatedReader) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		if r.split {
			return errors.New("gated source: more than one split")
		}
		pos, n := binary.Varint(b)
		if n != len(b) || pos < 0 {
			return fmt.Errorf("gated source: bad split %x", b)
		}
		r.pos, r.split = pos, true
	}
	return nil
}

func (r *opsGatedReader) Read(out weir.SourceOutput[kv]) (weir.ReadStatus, error) {
	if !r.split {
		return weir.ReadStatus{Done: true}, nil
	}
	limit := min(r.s.limit.Load(), int64(len(r.s.recs)))
	n := 0
	for ; n < 8 && r.pos < limit; n++ {
		rec := r.s.recs[r.pos]
		out.Emit(&rec, rec.TS)
		r.pos++
	}
	if n > 0 {
		r.s.pos.Store(r.pos)
		select {
		case r.s.changed <- struct{}{}:
		default:
		}
	}
	if r.pos >= int64(len(r.s.recs)) {
		return weir.ReadStatus{Done: true}, nil
	}
	if n == 0 {
		return weir.ReadStatus{Wait: time.Millisecond}, nil
	}
	return weir.ReadStatus{}, nil
}

func (r *opsGatedReader) SnapshotSplits() ([][]byte, error) {
	if !r.split {
		return nil, nil
	}
	if r.s.onSnapshot != nil {
		r.s.onSnapshot(r.pos)
	}
	return [][]byte{binary.AppendVarint(nil, r.pos)}, nil
}

func (r *opsGatedReader) Close() error { return nil }

// opsAcc is a window's count and sum.
type opsAcc struct{ N, Sum int64 }

type opsSumCount struct{}

func (opsSumCount) CreateAccumulator() opsAcc { return opsAcc{} }
func (opsSumCount) Add(r kv, a opsAcc) opsAcc { return opsAcc{a.N + 1, a.Sum + r.V} }
func (opsSumCount) Result(a opsAcc) opsAcc    { return a }
func (opsSumCount) Merge(a, b opsAcc) opsAcc  { return opsAcc{a.N + b.N, a.Sum + b.Sum} }
func opsFormat(k string, start, end int64, a opsAcc) string {
	return fmt.Sprintf("%s [%d,%d) n=%d sum=%d", k, start, end, a.N, a.Sum)
}

// opsBuild is the job: the gated source at parallelism 1 (one watermark,
// so the watermark at a stop is exact), a keyed tumbling event-time window
// summing per key at the environment's parallelism, and a sink.
func opsBuild(env *weir.Environment, src *opsGatedSource, sink weir.Sink[string]) {
	s := weir.FromSource(env, src, weir.BoundedOutOfOrderness[kv](0)).UID("ops-source").Parallelism(1)
	sums := weir.WindowAggregateProcess(weir.KeyBy(s, kvKey).Window(window.TumblingEventTime(opsWindowMs*time.Millisecond)), opsSumCount{},
		func(k string, w window.TimeWindow, a opsAcc, out weir.Collector[string]) error {
			out.Collect(opsFormat(k, w.Start, w.End, a))
			return nil
		}).UID("ops-windows")
	weir.To(sums, sink).UID("ops-sink")
}

// opsWindows returns, sorted, the results of the windows over recs[:n]
// whose end is at most maxEnd: the windows a watermark of maxEnd-1 fires.
func opsWindows(recs []kv, n int, maxEnd int64) []string {
	type wk struct {
		k     string
		start int64
	}
	acc := map[wk]opsAcc{}
	for _, r := range recs[:n] {
		k := wk{r.K, r.TS - r.TS%opsWindowMs}
		a := acc[k]
		acc[k] = opsAcc{a.N + 1, a.Sum + r.V}
	}
	var out []string
	for k, a := range acc {
		if k.start+opsWindowMs <= maxEnd {
			out = append(out, opsFormat(k.k, k.start, k.start+opsWindowMs, a))
		}
	}
	slices.Sort(out)
	return out
}

// opsClosedAt returns the results a stop without drain after the first n
// records has produced: with BoundedOutOfOrderness(0) the watermark is the
// highest timestamp - 1, and a window fires once the watermark reaches its
// end - 1.
func opsClosedAt(recs []kv, n int) []string {
	return opsWindows(recs, n, recs[n-1].TS)
}

// opsAll is what one uninterrupted run produces.
func opsAll(recs []kv) []string { return opsWindows(recs, len(recs), math.MaxInt64) }

// opsStart builds and starts the job.
func opsStart(t *testing.T, src *opsGatedSource, sink weir.Sink[string], opts ...weir.Option) *weir.JobClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env := newEnv(opts...)
	opsBuild(env, src, sink)
	job, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		job.Cancel()
		_ = job.Wait()
	})
	return job
}

// opsWait waits for the job to end and returns Wait's result.
func opsWait(t *testing.T, job *weir.JobClient) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- job.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("job did not end in %v", waitTimeout)
		return nil
	}
}

// opsRunFrom resumes the job from path with the gate open, runs it to the
// end and returns its results.
func opsRunFrom(t *testing.T, path string, opts ...weir.Option) []string {
	t.Helper()
	recs := opsData()
	src := newOpsGatedSource(recs, int64(len(recs)))
	sink := memory.NewSink[string]()
	job := opsStart(t, src, sink, append([]weir.Option{weir.WithParallelism(3), weir.FromSavepoint(path)}, opts...)...)
	if err := opsWait(t, job); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	return sink.Results()
}

// opsCheckSnapshot fails unless path is a complete snapshot of the kind,
// every data block of which reads back with a good checksum.
func opsCheckSnapshot(t *testing.T, path string, kind format.SnapshotKind) *format.Metadata {
	t.Helper()
	s, err := format.Open(path)
	if err != nil {
		t.Fatalf("%s is not a complete snapshot: %v", path, err)
	}
	if _, err := os.Stat(filepath.Join(path, format.MetadataFile)); err != nil {
		t.Fatalf("%s has no _metadata: %v", path, err)
	}
	md := s.Metadata()
	if md.Kind != kind {
		t.Fatalf("%s is a %v, want a %v", path, md.Kind, kind)
	}
	if err := s.Verify(); err != nil {
		t.Fatalf("%s does not verify: %v", path, err)
	}
	return md
}

// opsHashDir returns every file and directory under dir with the SHA-256
// of its content (directories as "dir"), keyed by relative path.
func opsHashDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func opsSameHashes(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, h := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s was removed", what, p)
		} else if g != h {
			t.Errorf("%s: %s changed: sha256 %s, was %s", what, p, g, h)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s was added", what, p)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// opsCheckpoints returns the checkpoint directories of a job run, sorted by
// ID.
func opsCheckpoints(t *testing.T, dir string, job *weir.JobClient) []string {
	t.Helper()
	chks, err := filepath.Glob(filepath.Join(dir, job.ID(), "chk-*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(chks, func(a, b string) int { return opsChkID(t, a) - opsChkID(t, b) })
	return chks
}

func opsChkID(t *testing.T, path string) int {
	t.Helper()
	var id int
	if _, err := fmt.Sscanf(filepath.Base(path), "chk-%d", &id); err != nil {
		t.Fatalf("checkpoint directory %s: %v", path, err)
	}
	return id
}

// opsWaitSnapshot waits until the job has completed snapshot id (periodic
// checkpoints have no completion event to wait on: this polls).
func opsWaitSnapshot(t *testing.T, job *weir.JobClient, id uint64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for job.LastSnapshot().ID < id {
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %d never completed; last: %+v", id, job.LastSnapshot())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func opsEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	got = sorted(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %d results, want %d; differences: %v\n got  %v\n want %v", what, len(got), len(want), diff(got, want), got, want)
	}
}

// opsSavepoint runs the job up to opsStopAt records and stops it with a
// savepoint without draining. It returns the savepoint, its ID and the
// run's results.
func opsSavepoint(t *testing.T, dir string) (string, uint64, []string) {
	t.Helper()
	recs := opsData()
	path, _, sink := opsStopAtLimit(t, dir, false)
	md := opsCheckSnapshot(t, path, format.Savepoint)
	got := sink.Results()
	opsEqual(t, "first run, stopped without drain", got, opsClosedAt(recs, opsStopAt))
	return path, md.SnapshotID, got
}

// opsStopAtLimit runs the job at parallelism 2 until its source has read
// opsStopAt records and stops it with a savepoint into dir, with drain or
// not. It returns the savepoint, the source and the sink.
func opsStopAtLimit(t *testing.T, dir string, drain bool) (string, *opsGatedSource, *memory.Sink[string]) {
	t.Helper()
	src := newOpsGatedSource(opsData(), opsStopAt)
	sink := memory.NewSink[string]()
	job := opsStart(t, src, sink, weir.WithParallelism(2))
	src.WaitPos(t, opsStopAt)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	path, err := job.StopWithSavepoint(ctx, dir, drain)
	if err != nil {
		t.Fatalf("stop with savepoint (drain %v): %v", drain, err)
	}
	if err := opsWait(t, job); err != nil {
		t.Fatalf("Wait after stop with savepoint (drain %v) = %v, want nil", drain, err)
	}
	return path, src, sink
}

// TestOpsUninterruptedRun pins down the reference the other tests compare
// against: the job run to the end produces exactly opsAll.
func TestOpsUninterruptedRun(t *testing.T) {
	recs := opsData()
	src := newOpsGatedSource(recs, int64(len(recs)))
	sink := memory.NewSink[string]()
	job := opsStart(t, src, sink, weir.WithParallelism(2))
	if err := opsWait(t, job); err != nil {
		t.Fatal(err)
	}
	want := opsAll(recs)
	if len(want) != 3*opsRecords*opsStep/opsWindowMs {
		t.Fatalf("%d windows, want one per key and second", len(want))
	}
	opsEqual(t, "uninterrupted run", sink.Results(), want)
}

// TestOpsStopWithSavepointDrain: stop --drain emits the final watermark
// before the stop barrier, so the windows still open fire and reach the
// sink before StopWithSavepoint returns; a stop without drain fires nothing
// the watermark has not reached, and resuming from its savepoint produces
// the open windows exactly once.
func TestOpsStopWithSavepointDrain(t *testing.T) {
	recs := opsData()
	closed := opsClosedAt(recs, opsStopAt)
	open := opsWindows(recs, opsStopAt, math.MaxInt64)
	if len(open) <= len(closed) {
		t.Fatalf("the stop point leaves no window open: %d closed, %d with the drain", len(closed), len(open))
	}

	t.Run("drain", func(t *testing.T) {
		path, src, sink := opsStopAtLimit(t, t.TempDir(), true)
		opsCheckSnapshot(t, path, format.Savepoint)
		// Every window over the records before the barrier fired, the open
		// ones included, each once; nothing after the barrier was read.
		opsEqual(t, "stop --drain", sink.Results(), open)
		if p := src.pos.Load(); p != opsStopAt {
			t.Fatalf("the source read %d records, want %d", p, opsStopAt)
		}
	})

	t.Run("no-drain", func(t *testing.T) {
		dir := t.TempDir()
		path, _, first := opsSavepoint(t, dir)
		if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Fatalf("savepoint %s is not in %s", path, dir)
		}
		// The open windows did not fire (opsSavepoint checked the first
		// run's results are exactly the closed windows); resuming fires
		// them, with the records on both sides of the stop.
		second := opsRunFrom(t, path)
		for _, r := range second {
			if slices.Contains(first, r) {
				t.Fatalf("%q was produced by both runs", r)
			}
		}
		opsEqual(t, "first run + resumed run", append(first, second...), opsAll(recs))
	})
}

// TestOpsCancelWithSavepoint: cancel with savepoint returns a complete
// savepoint, ends the job as cancelled, and the results up to the
// savepoint's barrier plus those of a run resumed from it are exactly one
// uninterrupted run's — although the first run went on processing after
// the barrier until the cancel.
func TestOpsCancelWithSavepoint(t *testing.T) {
	recs := opsData()
	const after = 80 // the gate opens this far at the savepoint's barrier
	src := newOpsGatedSource(recs, opsStopAt)
	var barrierPos atomic.Int64
	barrierPos.Store(-1)
	src.onSnapshot = func(pos int64) {
		barrierPos.Store(pos)
		src.limit.Store(after)
	}
	sink := &markSink{}
	dir := t.TempDir()
	job := opsStart(t, src, sink, weir.WithParallelism(2), weir.WithSavepointDir(dir))
	src.WaitPos(t, opsStopAt)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	path, err := job.CancelWithSavepoint(ctx, "")
	if err != nil {
		t.Fatalf("cancel with savepoint: %v", err)
	}
	// CancelWithSavepoint returns once the job has ended.
	select {
	case <-func() chan struct{} {
		c := make(chan struct{})
		go func() { _ = job.Wait(); close(c) }()
		return c
	}():
	case <-time.After(waitTimeout):
		t.Fatal("the job is still running after CancelWithSavepoint returned")
	}
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel with savepoint = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := job.TriggerSavepoint(ctx, dir); err == nil {
		t.Fatal("TriggerSavepoint on a cancelled job succeeded")
	}

	if filepath.Dir(path) != dir || !strings.HasPrefix(filepath.Base(path), "savepoint-"+job.ID()[:6]+"-") {
		t.Fatalf("savepoint %s is not %s/savepoint-<job id prefix>-…", path, dir)
	}
	md := opsCheckSnapshot(t, path, format.Savepoint)
	if md.JobID != mustJobID(t, job.ID()) {
		t.Fatalf("savepoint of job %x, want %s", md.JobID, job.ID())
	}
	if got := barrierPos.Load(); got != opsStopAt {
		t.Fatalf("the barrier was at record %d, want %d", got, opsStopAt)
	}

	before := sink.beforeBarrier()
	opsEqual(t, "results before the savepoint's barrier", before, opsClosedAt(recs, opsStopAt))
	// Whatever the first run produced after the barrier (records up to
	// `after`, until the cancel) is a result of the uninterrupted run.
	var firstAll []string
	sink.mu.Lock()
	for _, w := range sink.writers {
		firstAll = append(firstAll, w.results...)
	}
	sink.mu.Unlock()
	all := opsAll(recs)
	for _, r := range firstAll {
		if _, found := slices.BinarySearch(all, r); !found {
			t.Fatalf("the first run produced %q, which the uninterrupted run does not", r)
		}
	}
	if len(firstAll) > len(opsClosedAt(recs, after)) {
		t.Fatalf("the first run produced %d results, more than the %d the records before the gate close", len(firstAll), len(opsClosedAt(recs, after)))
	}
	t.Logf("first run: %d results before the barrier, %d after it", len(before), len(firstAll)-len(before))

	second := opsRunFrom(t, path)
	opsEqual(t, "results before the barrier + resumed run", append(before, second...), all)
}

func mustJobID(t *testing.T, s string) [16]byte {
	t.Helper()
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("job ID %q: %v", s, err)
	}
	copy(id[:], b)
	return id
}

// opsRunPastRetained resumes the job with restore (a FromSavepoint option)
// at parallelism 3, checkpointing into ckDir every 5 ms and retaining
// retain checkpoints; once it has read 70 records and completed retain+3
// snapshots after the savepoint spID, it cancels the job and returns it.
func opsRunPastRetained(t *testing.T, recs []kv, restore weir.Option, ckDir string, spID uint64, retain int) *weir.JobClient {
	t.Helper()
	src := newOpsGatedSource(recs, 70) // some progress after the restore, then idle
	job := opsStart(t, src, memory.NewSink[string](), weir.WithParallelism(3), restore,
		weir.WithCheckpointDir(ckDir), weir.WithCheckpointInterval(5*time.Millisecond), weir.WithRetainedCheckpoints(retain))
	src.WaitPos(t, 70)
	opsWaitSnapshot(t, job, spID+uint64(retain)+3)
	job.Cancel()
	if err := opsWait(t, job); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after Cancel = %v, want context.Canceled", err)
	}
	return job
}

// TestOpsRestoreNoClaim: a job resumed in the default no-claim mode takes
// more periodic checkpoints than it retains and disposes of the old ones,
// but never touches the savepoint it started from: byte for byte the same
// afterwards, and it still restores to exactly the uninterrupted results.
func TestOpsRestoreNoClaim(t *testing.T) {
	const retain = 2
	recs := opsData()
	spDir, ckDir := t.TempDir(), t.TempDir()
	sp, spID, first := opsSavepoint(t, spDir)
	hashes := opsHashDir(t, sp)

	job := opsRunPastRetained(t, recs, weir.FromSavepoint(sp), ckDir, spID, retain)

	opsSameHashes(t, "no-claim savepoint after the resumed run", opsHashDir(t, sp), hashes)
	// The run's own checkpoints are rotated: exactly the newest `retain`
	// remain, complete, numbered on from the savepoint's ID.
	chks := opsCheckpoints(t, ckDir, job)
	if len(chks) != retain {
		t.Fatalf("%d checkpoints left, want the %d retained: %v", len(chks), retain, chks)
	}
	latest := job.LatestCheckpoint()
	if chks[len(chks)-1] != latest {
		t.Fatalf("newest checkpoint on disk %s, LatestCheckpoint %s", chks[len(chks)-1], latest)
	}
	for _, c := range chks {
		if id := opsChkID(t, c); uint64(id) <= spID+retain {
			t.Fatalf("checkpoint %s is older than the newest %d", c, retain)
		}
		opsCheckSnapshot(t, c, format.Checkpoint)
	}

	// The savepoint still restores, to exactly the results of the rest of
	// the uninterrupted run.
	second := opsRunFrom(t, sp)
	opsEqual(t, "first run + run restored again from the no-claim savepoint", append(first, second...), opsAll(recs))
	opsSameHashes(t, "no-claim savepoint after a second restore", opsHashDir(t, sp), hashes)
}

// TestOpsRestoreClaim: in claim mode the job owns the savepoint it started
// from, as its oldest checkpoint: with N retained checkpoints it is kept,
// unchanged, until the N-th checkpoint after the restore completes, and
// then deleted — directory and all — while the job runs
// (docs/operations.md: "claim hands it to the job, which deletes it once
// newer checkpoints subsume it").
func TestOpsRestoreClaim(t *testing.T) {
	const retain = 2
	recs := opsData()

	t.Run("triggered", func(t *testing.T) {
		spDir, ckDir := t.TempDir(), t.TempDir()
		sp, spID, _ := opsSavepoint(t, spDir)
		hashes := opsHashDir(t, sp)
		src := newOpsGatedSource(recs, 70)
		sink := memory.NewSink[string]()
		// Restore through the _metadata file: the whole directory is
		// claimed.
		job := opsStart(t, src, sink, weir.WithParallelism(3),
			weir.FromSavepoint(filepath.Join(sp, format.MetadataFile), weir.WithRestoreMode(weir.Claim)),
			weir.WithCheckpointDir(ckDir), weir.WithRetainedCheckpoints(retain))
		src.WaitPos(t, 70)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var chks []string
		for i := 1; i <= retain; i++ {
			if i == retain {
				// Until now the savepoint is one of the retained
				// snapshots: kept and untouched.
				opsSameHashes(t, fmt.Sprintf("claimed savepoint after %d checkpoints", i-1), opsHashDir(t, sp), hashes)
			}
			c, err := job.TriggerCheckpoint(ctx)
			if err != nil {
				t.Fatalf("checkpoint %d: %v", i, err)
			}
			if md := opsCheckSnapshot(t, c, format.Checkpoint); md.SnapshotID != spID+uint64(i) {
				t.Fatalf("checkpoint %d has ID %d, want %d", i, md.SnapshotID, spID+uint64(i))
			}
			chks = append(chks, c)
		}
		// The retain-th checkpoint subsumes the savepoint: it goes while
		// the job runs (disposal is asynchronous: wait for it).
		deadline := time.Now().Add(waitTimeout)
		for {
			_, err := os.Stat(sp)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the claimed savepoint %s is still there after %d newer checkpoints (stat: %v); left: %v", sp, retain, err, opsHashDir(t, sp))
			}
			time.Sleep(2 * time.Millisecond)
		}
		job.Cancel()
		if err := opsWait(t, job); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after Cancel = %v, want context.Canceled", err)
		}
		if _, err := os.Stat(spDir); err != nil {
			t.Fatalf("the savepoints' parent directory went too: %v", err)
		}
		// The checkpoints stand on their own: nothing of theirs was in the
		// deleted savepoint.
		if got := opsCheckpoints(t, ckDir, job); !slices.Equal(got, chks) {
			t.Fatalf("checkpoints left %v, want %v", got, chks)
		}
		for _, c := range chks {
			opsCheckSnapshot(t, c, format.Checkpoint)
		}
	})

	t.Run("periodic", func(t *testing.T) {
		spDir, ckDir := t.TempDir(), t.TempDir()
		sp, spID, _ := opsSavepoint(t, spDir)
		job := opsRunPastRetained(t, recs, weir.FromSavepoint(sp, weir.WithRestoreMode(weir.Claim)), ckDir, spID, retain)
		if _, err := os.Stat(sp); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the claimed savepoint %s survived %d newer checkpoints (stat: %v)", sp, retain+3, err)
		}
		chks := opsCheckpoints(t, ckDir, job)
		if len(chks) != retain || chks[len(chks)-1] != job.LatestCheckpoint() {
			t.Fatalf("checkpoints left %v, want the newest %d ending with %s", chks, retain, job.LatestCheckpoint())
		}
		for _, c := range chks {
			opsCheckSnapshot(t, c, format.Checkpoint)
		}
	})
}
