package weir_test

// The golden savepoint: testdata/savepoints/v1-orders/ is a savepoint of the
// job below written by weir 0.1.0-dev (savepoint format version 1). It is
// checked in and kept forever: every later version of weir must restore it,
// at any parallelism, and produce exactly the results in
// testdata/savepoints/v1-orders.after.txt. Regenerate it only while the
// format is unreleased, and knowingly:
//
//	go test -run TestGoldenSavepoint -update-golden .
//
// This file is part of the golden: the job, its record types, its source's
// split encoding and its state names must not change, or the savepoint no
// longer belongs to the job. Write a new golden (v2-...) instead.

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"iter"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/window"
)

var updateGolden = flag.Bool("update-golden", false, "regenerate the golden savepoint testdata/savepoints/v1-orders (only while its format is unreleased)")

const (
	goldenDir = "testdata/savepoints/v1-orders"
	// goldenBefore and goldenAfter are the job's results before the stop
	// that wrote the savepoint, and after a restore from it.
	goldenBefore = "testdata/savepoints/v1-orders.before.txt"
	goldenAfter  = "testdata/savepoints/v1-orders.after.txt"
	// goldenStopAt is the number of orders read before the savepoint,
	// goldenOrders the number read in all.
	goldenStopAt = 120
	goldenOrders = 200
	goldenSplits = 2
	// goldenMaxSize bounds the savepoint's size on disk.
	goldenMaxSize = 100 << 10
)

// goldenOrder is an order; window state keeps it.
type goldenOrder struct {
	ID       int64
	User     string
	Category string
	Amount   int64
	CreateTS int64
}

var goldenUsers = []string{"ana", "bo", "cy", "di", "eve", "fay", "gus", "hal"}
var goldenCategories = []string{"book", "food", "toy"}

// goldenOrderAt returns order n. Its user is n%8, so each user's orders
// lie in one split (n%2) and arrive in order whatever the parallelism.
// Orders are up to 600ms out of order, within the 1 s watermark bound, so
// none is ever late.
func goldenOrderAt(n int64) goldenOrder {
	return goldenOrder{
		ID:       n,
		User:     goldenUsers[n%int64(len(goldenUsers))],
		Category: goldenCategories[(n*7/3)%3],
		Amount:   1 + n*37%997,
		CreateTS: 1_436_918_400_000 + n*250 - n*131%600,
	}
}

// goldenSource emits orders [0, limit) from goldenSplits splits; split i
// holds orders i, i+goldenSplits, ... and its position is how many it has
// emitted. With idle it waits forever at the limit instead of ending, so
// that a stop with savepoint can be injected after exactly limit orders.
type goldenSource struct {
	limit int64
	idle  bool
}

func (s *goldenSource) Bounded() bool { return !s.idle }

func (s *goldenSource) Splits(int) ([][]byte, error) {
	out := make([][]byte, goldenSplits)
	for i := range out {
		out[i] = goldenEncodeSplit(goldenSplit{first: int64(i), stride: goldenSplits})
	}
	return out, nil
}

func (s *goldenSource) NewReader(weir.SourceContext) (weir.SourceReader[goldenOrder], error) {
	return &goldenReader{s: s}, nil
}

type goldenSplit struct{ first, stride, emitted int64 }

func goldenEncodeSplit(sp goldenSplit) []byte {
	b := binary.AppendUvarint(nil, uint64(sp.first))
	b = binary.AppendUvarint(b, uint64(sp.stride))
	return binary.AppendUvarint(b, uint64(sp.emitted))
}

func goldenDecodeSplit(b []byte) (goldenSplit, error) {
	var f [3]uint64
	for i := range f {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return goldenSplit{}, fmt.Errorf("golden source: malformed split %x", b)
		}
		f[i], b = v, b[n:]
	}
	if len(b) != 0 || f[1] == 0 {
		return goldenSplit{}, fmt.Errorf("golden source: malformed split")
	}
	return goldenSplit{int64(f[0]), int64(f[1]), int64(f[2])}, nil
}

type goldenReader struct {
	s      *goldenSource
	splits []goldenSplit
	o      goldenOrder
}

func (r *goldenReader) AddSplits(b [][]byte) error {
	for _, x := range b {
		sp, err := goldenDecodeSplit(x)
		if err != nil {
			return err
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

// Read emits up to 8 orders, lowest number first.
func (r *goldenReader) Read(out weir.SourceOutput[goldenOrder]) (weir.ReadStatus, error) {
	for range 8 {
		best, next := -1, int64(0)
		for i, sp := range r.splits {
			if n := sp.first + sp.emitted*sp.stride; n < r.s.limit && (best < 0 || n < next) {
				best, next = i, n
			}
		}
		if best < 0 {
			if r.s.idle {
				return weir.ReadStatus{Wait: 10 * time.Millisecond}, nil
			}
			return weir.ReadStatus{Done: true}, nil
		}
		r.splits[best].emitted++
		r.o = goldenOrderAt(next)
		out.Emit(&r.o, r.o.CreateTS)
	}
	return weir.ReadStatus{}, nil
}

func (r *goldenReader) SnapshotSplits() ([][]byte, error) {
	out := make([][]byte, len(r.splits))
	for i, sp := range r.splits {
		out[i] = goldenEncodeSplit(sp)
	}
	return out, nil
}

func (r *goldenReader) Close() error { return nil }

// goldenTotals is the running totals' accumulator.
type goldenTotals struct {
	User   string
	Count  int64
	Amount int64
}

type goldenTotalsAgg struct{}

func (goldenTotalsAgg) CreateAccumulator() goldenTotals { return goldenTotals{} }
func (goldenTotalsAgg) Add(o goldenOrder, acc goldenTotals) goldenTotals {
	return goldenTotals{User: o.User, Count: acc.Count + 1, Amount: acc.Amount + o.Amount}
}
func (goldenTotalsAgg) Result(acc goldenTotals) string {
	return fmt.Sprintf("total %s count=%d amount=%d", acc.User, acc.Count, acc.Amount)
}
func (goldenTotalsAgg) Merge(a, b goldenTotals) goldenTotals {
	return goldenTotals{User: a.User, Count: a.Count + b.Count, Amount: a.Amount + b.Amount}
}

// goldenStats keeps per user the largest amount (Value), the count per
// category (Map) and the IDs of big orders (List), and reports them when
// the input ends (an event-time timer at the end of time).
type goldenStats struct {
	largest state.Value[int64]
	perCat  state.Map[string, int64]
	big     state.List[int64]
}

func (f *goldenStats) Open(ctx *weir.KeyedContext[string]) error {
	var err error
	if f.largest, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "largest"}); err != nil {
		return err
	}
	if f.perCat, err = state.GetMap(ctx, state.MapDescriptor[string, int64]{Name: "per-category"}); err != nil {
		return err
	}
	f.big, err = state.GetList(ctx, state.ListDescriptor[int64]{Name: "big-orders"})
	return err
}

func (f *goldenStats) ProcessElement(ctx *weir.KeyedContext[string], o goldenOrder, _ weir.Collector[string]) error {
	ctx.RegisterEventTimeTimer(math.MaxInt64)
	if l, _ := f.largest.Value(); o.Amount > l {
		f.largest.Update(o.Amount)
	}
	n, _ := f.perCat.Get(o.Category)
	f.perCat.Put(o.Category, n+1)
	if o.Amount >= 800 {
		f.big.Add(o.ID)
	}
	return nil
}

func (f *goldenStats) OnTimer(ctx *weir.KeyedContext[string], _ int64, out weir.Collector[string]) error {
	l, _ := f.largest.Value()
	cats := maps.Collect(f.perCat.All())
	var cs []string
	for _, c := range slices.Sorted(maps.Keys(cats)) {
		cs = append(cs, fmt.Sprintf("%s:%d", c, cats[c]))
	}
	out.Collect(fmt.Sprintf("stats %s largest=%d categories=%s big=%v", ctx.CurrentKey(), l, strings.Join(cs, ","), slices.Collect(f.big.All())))
	return nil
}

// goldenJob is the job of the golden savepoint: per user, order counts in
// 10 s tumbling windows, running totals, and statistics reported at the
// end.
func goldenJob(env *weir.Environment, src *goldenSource, sink weir.Sink[string]) {
	orders := weir.FromSource(env, src, weir.BoundedOutOfOrderness[goldenOrder](time.Second)).UID("orders-source").Name("orders")
	byUser := func(o goldenOrder) string { return o.User }
	windows := weir.WindowProcess(weir.KeyBy(orders, byUser).Window(window.TumblingEventTime(10*time.Second)),
		func(user string, w window.TimeWindow, in iter.Seq[goldenOrder], out weir.Collector[string]) error {
			var n, amount int64
			for o := range in {
				n++
				amount += o.Amount
			}
			out.Collect(fmt.Sprintf("window %s [%d,%d) count=%d amount=%d", user, w.Start, w.End, n, amount))
			return nil
		}).UID("orders-per-user").Name("orders-per-user")
	totals := weir.Aggregate(weir.KeyBy(orders, byUser), goldenTotalsAgg{}).UID("running-totals").Name("running-totals")
	stats := weir.Process(weir.KeyBy(orders, byUser), &goldenStats{}).UID("order-stats").Name("order-stats")
	weir.To(weir.Union(windows, totals, stats), sink).UID("sink").Name("sink")
}

// goldenSink collects results and lets the test wait for a count.
type goldenSink struct {
	mu      sync.Mutex
	got     []string
	changed chan struct{}
}

func newGoldenSink() *goldenSink { return &goldenSink{changed: make(chan struct{}, 1)} }

func (s *goldenSink) NewWriter(weir.SinkContext) (weir.SinkWriter[string], error) { return s, nil }
func (s *goldenSink) Flush() error                                                { return nil }
func (s *goldenSink) Close() error                                                { return nil }

func (s *goldenSink) Write(v string) error {
	s.mu.Lock()
	s.got = append(s.got, v)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *goldenSink) results() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return upSorted(s.got)
}

func goldenCount(rs []string, prefix string) (n int) {
	for _, r := range rs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// goldenRun runs the job from scratch over orders [0, goldenOrders), or,
// with restore, from the savepoint to the end; it returns the results.
func goldenRun(t *testing.T, p int, restore string) []string {
	t.Helper()
	var opts []weir.Option
	if restore != "" {
		opts = append(opts, weir.FromSavepoint(restore))
	}
	env := upEnv(p, opts...)
	sink := newGoldenSink()
	goldenJob(env, &goldenSource{limit: goldenOrders}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	job, err := env.ExecuteAsync(ctx, "golden-orders")
	if err != nil {
		t.Fatalf("parallelism %d: %v", p, err)
	}
	if err := job.Wait(); err != nil {
		t.Fatalf("parallelism %d: %v", p, err)
	}
	if sk := job.Skipped(); len(sk) != 0 {
		t.Fatalf("parallelism %d: the restore skipped %v", p, sk)
	}
	return sink.results()
}

// goldenCheckPresent reports what is missing of a golden savepoint in dir.
func goldenCheckPresent(dir string, lists ...string) error {
	if _, err := os.Stat(filepath.Join(dir, "_metadata")); err != nil {
		return fmt.Errorf("the golden savepoint %s is missing or incomplete (%w): it is checked in and must never be deleted; restore it from version control (only while its format is unreleased: regenerate it with go test -run TestGoldenSavepoint -update-golden)", dir, err)
	}
	for _, l := range lists {
		if b, err := os.ReadFile(l); err != nil || len(b) == 0 {
			return fmt.Errorf("the golden result list %s is missing or empty (%v): it belongs to the golden savepoint %s and is checked in with it", l, err, dir)
		}
	}
	return nil
}

func goldenReadList(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func goldenWriteList(t *testing.T, path string, rs []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(rs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goldenSize returns the total size of the files under dir.
func goldenSize(t *testing.T, dir string) int64 {
	t.Helper()
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		size += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return size
}

// goldenCopy copies the savepoint directory src to a new directory dst.
func goldenCopy(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// goldenGenerate runs the job over goldenStopAt orders, stops it with a
// savepoint once every order has reached the sink (the source then idles,
// so the savepoint's content does not depend on timing), and writes the
// savepoint and the result lists into testdata.
func goldenGenerate(t *testing.T) {
	env := upEnv(goldenSplits)
	sink := newGoldenSink()
	goldenJob(env, &goldenSource{limit: goldenStopAt, idle: true}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	job, err := env.ExecuteAsync(ctx, "golden-orders")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(upTimeout)
	for goldenCount(sink.results(), "total ") < goldenStopAt {
		select {
		case <-sink.changed:
		case <-deadline:
			t.Fatalf("the sink has %d running totals, want %d", goldenCount(sink.results(), "total "), goldenStopAt)
		}
	}
	tmp := t.TempDir()
	path, err := job.StopWithSavepoint(ctx, tmp, false)
	if err != nil {
		t.Fatal(err)
	}
	before := sink.results()
	after := goldenRun(t, goldenSplits, path)
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenDir), 0o755); err != nil {
		t.Fatal(err)
	}
	goldenCopy(t, path, goldenDir)
	goldenWriteList(t, goldenBefore, before)
	goldenWriteList(t, goldenAfter, after)
	t.Logf("wrote %s (%d bytes), %d results before and %d after", goldenDir, goldenSize(t, goldenDir), len(before), len(after))
}

// TestGoldenSavepoint restores the checked-in golden savepoint at
// parallelism 1 and 3 (it was written at 2) and checks the exact results.
// A missing golden fails the test: it is never skipped.
func TestGoldenSavepoint(t *testing.T) {
	if *updateGolden {
		goldenGenerate(t)
	}
	if err := goldenCheckPresent(goldenDir, goldenBefore, goldenAfter); err != nil {
		t.Fatal(err)
	}
	if size := goldenSize(t, goldenDir); size > goldenMaxSize {
		t.Errorf("the golden savepoint takes %d bytes, more than %d", size, goldenMaxSize)
	}

	// What the savepoint says about itself.
	s, err := format.Open(goldenDir)
	if err != nil {
		t.Fatalf("cannot open the golden savepoint: %v", err)
	}
	md := s.Metadata()
	wantStates := map[string][]string{
		"orders-source":   {"source-splits"},
		"orders-per-user": nil, // internal window state: names are the window operator's own
		"running-totals":  nil,
		"order-stats":     {"big-orders", "largest", "per-category"},
	}
	for _, op := range md.Operators {
		want, ok := wantStates[op.UID]
		if !ok {
			t.Errorf("the golden savepoint has state of an unexpected operator %s (uid %q)", op.ID, op.UID)
			continue
		}
		delete(wantStates, op.UID)
		if op.ID != format.OperatorID(weir.UIDHash(op.UID)) || op.Parallelism != goldenSplits || len(op.States) == 0 {
			t.Errorf("golden operator %q: ID %s, parallelism %d, %d states", op.UID, op.ID, op.Parallelism, len(op.States))
		}
		for _, name := range want {
			if op.State(name) == nil {
				t.Errorf("golden operator %q has no state %q", op.UID, name)
			}
		}
		// Keyed state comes from both subtasks, so restoring at another
		// parallelism splits and merges hash ranges.
		files := 0
		for _, st := range op.States {
			files = max(files, len(st.Files))
		}
		if op.UID != "orders-source" && files != goldenSplits {
			t.Errorf("golden operator %q has keyed state in %d files, want %d (one per subtask)", op.UID, files, goldenSplits)
		}
	}
	for uid := range wantStates {
		t.Errorf("the golden savepoint has no state of operator %q", uid)
	}

	before := goldenReadList(t, goldenBefore)
	after := goldenReadList(t, goldenAfter)
	if n := goldenCount(before, "total "); n != goldenStopAt {
		t.Fatalf("%s has %d running totals, want %d", goldenBefore, n, goldenStopAt)
	}
	if n := goldenCount(after, "total "); n != goldenOrders-goldenStopAt {
		t.Fatalf("%s has %d running totals, want %d", goldenAfter, n, goldenOrders-goldenStopAt)
	}
	if n := goldenCount(after, "stats "); n != len(goldenUsers) {
		t.Fatalf("%s has %d user statistics, want %d", goldenAfter, n, len(goldenUsers))
	}

	// The golden is consistent with the job as it runs today: results
	// before the stop and after the restore are one uninterrupted run's.
	upSame(t, "golden results before and after the savepoint against an uninterrupted run",
		slices.Concat(before, after), goldenRun(t, 1, ""))

	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("p%d", p), func(t *testing.T) {
			// Restore from a copy, so that no bug can touch the checked-in
			// files.
			dir := filepath.Join(t.TempDir(), "v1-orders")
			goldenCopy(t, goldenDir, dir)
			upSame(t, fmt.Sprintf("results after restoring the golden savepoint at parallelism %d", p), goldenRun(t, p, dir), after)
		})
	}
}

// TestGoldenSavepointMissingFails: a missing golden savepoint is an error
// that says what to do, never a skip.
func TestGoldenSavepointMissingFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "v1-orders")
	err := goldenCheckPresent(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "must never be deleted") {
		t.Fatalf("missing golden savepoint: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_metadata"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := goldenCheckPresent(dir, filepath.Join(dir, "after.txt")); err == nil || !strings.Contains(err.Error(), "after.txt") {
		t.Fatalf("missing golden result list: %v", err)
	}
}
