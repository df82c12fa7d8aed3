package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/connector/nexmark"
)

// BenchmarkGeneratorParallel runs the bare generator on p goroutines, each
// taking every p-th event as a source subtask does. Comparing CPU time at
// p=1 and p=2 shows how much per-event cost rises when both cores generate
// at once, independently of the engine.
func BenchmarkGeneratorParallel(b *testing.B) {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	const events = 2_000_000
	for _, p := range []int{1, 2} {
		b.Run(map[int]string{1: "p=1", 2: "p=2"}[p], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for s := 0; s < p; s++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var bid nexmark.Bid
						for n := int64(s); n < events; n += int64(p) {
							if g.TypeOf(n) == nexmark.EventBid {
								g.Bid(n, &bid)
							}
						}
					}()
				}
				wg.Wait()
			}
			c := cpuTime()
			_ = c
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func TestRunSmall(t *testing.T) {
	rs, err := Run(Options{Events: 100_000, Queries: []string{"q0", "q5"}, Parallelism: []int{1, 2}, Repeat: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("%d results, want 5 (generator + 2 queries x 2)", len(rs))
	}
	for _, r := range rs {
		if r.Events != 100_000 || r.CPU <= 0 || r.Results == 0 {
			t.Fatalf("implausible result %+v", r)
		}
	}
}

// TestStateSmall runs the savepoint benchmark on a small state, restoring
// by mapping the files and by copying them: its figures must be plausible
// and the restore must read every byte once.
func TestStateSmall(t *testing.T) {
	for _, copyFiles := range []bool{false, true} {
		// A directory whose name has a space: the restore in a new
		// process must still find the savepoint.
		dir := filepath.Join(t.TempDir(), "with space")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := State(StateOptions{Dir: dir, Keys: 20_000, ValueBytes: 48, Parallelism: 2, RestoreParallelism: 3, MinProbeBytes: 8 << 20, Rounds: 2,
			RestoreCommand: []string{os.Args[0], "-test.run=^TestRestoreChild$", "-test.count=1"}, CopyFiles: copyFiles})
		if err != nil {
			t.Fatal(err)
		}
		if r.StateBytes < 20_000*48 || r.InProcessRestoreRead <= 0 || r.WarmRestoreRead <= 0 || r.WriteDiskRatio <= 0 || r.RestoreDiskRatio <= 0 ||
			r.DiskWrite <= 0 || r.DiskRead <= 0 || r.DiskWarmRead <= 0 || r.MaxSyncPause <= 0 ||
			r.FreshMemory == 0 || r.FreshMemory < 0 && runtime.GOOS == "linux" || r.CopyFiles != copyFiles || len(r.Rounds) != 2 {
			t.Fatalf("implausible %+v", r)
		}
		for i, rd := range r.Rounds {
			if rd.ProbeFirst != (i%2 == 0) || !rd.InNewProcess || rd.Disk.Bytes < 8<<20 || rd.Disk.Bytes < rd.SavepointBytes ||
				rd.SavepointBytes < 20_000*48 || rd.SavepointWrite <= 0 || rd.RestoreRead <= 0 || rd.RestoreCPU <= 0 ||
				rd.WriteDiskRatio != rd.SavepointWrite/rd.Disk.Write || rd.RestoreDiskRatio != rd.RestoreRead/rd.Disk.ColdRead {
				t.Fatalf("implausible round %d: %+v", i+1, rd)
			}
		}
		if want := (r.Rounds[0].WriteDiskRatio + r.Rounds[1].WriteDiskRatio) / 2; r.WriteDiskRatio != want {
			t.Fatalf("median write ratio %v, want %v", r.WriteDiskRatio, want)
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
			t.Fatalf("want only the last savepoint left in %s, found %v (%v)", dir, entries, err)
		}
		if len(r.BytesPerSubtask) != 3 {
			t.Fatalf("bytes per subtask %v", r.BytesPerSubtask)
		}
		var sb strings.Builder
		PrintState(&sb, r)
		how := "mapping its files"
		if copyFiles {
			how = "copying its files"
		}
		if !strings.Contains(sb.String(), "bytes read per subtask at p=3") || !strings.Contains(sb.String(), "in a new process") || !strings.Contains(sb.String(), "median") || !strings.Contains(sb.String(), how) {
			t.Fatal(sb.String())
		}
	}
}

// BenchmarkSavepointState measures a large keyed state when
// WEIR_STATE_BENCH_KEYS is set, with WEIR_STATE_BENCH_VALUE_BYTES-byte values
// (default 48): e.g. 16000000 keys x 48 B (entry-bound) or 1000000 keys x
// 1000 B (byte-bound), each about 1 GB; see BENCHMARKS.md. With
// WEIR_STATE_BENCH_PROFILE=prefix it writes CPU profiles of the savepoint and
// of the cold restore, and execution traces (StateOptions.Profile); with
// WEIR_STATE_BENCH_COPY=1 the restores copy the files instead of mapping
// them (StateOptions.CopyFiles); WEIR_STATE_BENCH_ROUNDS sets the number of
// rounds (StateOptions.Rounds, default 6).
func BenchmarkSavepointState(b *testing.B) {
	keys, _ := strconv.ParseInt(os.Getenv("WEIR_STATE_BENCH_KEYS"), 10, 64)
	if keys == 0 {
		b.Skip("set WEIR_STATE_BENCH_KEYS")
	}
	valueBytes := 48
	if v := os.Getenv("WEIR_STATE_BENCH_VALUE_BYTES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 8 {
			b.Fatalf("WEIR_STATE_BENCH_VALUE_BYTES=%q: want an integer >= 8", v)
		}
		valueBytes = n
	}
	rounds := 0
	if v := os.Getenv("WEIR_STATE_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("WEIR_STATE_BENCH_ROUNDS=%q: want an integer >= 1", v)
		}
		rounds = n
	}
	for i := 0; i < b.N; i++ {
		r, err := State(StateOptions{Dir: b.TempDir(), Keys: keys, ValueBytes: valueBytes, Parallelism: 2, RestoreParallelism: 3, Rounds: rounds,
			Profile:        os.Getenv("WEIR_STATE_BENCH_PROFILE"),
			CopyFiles:      os.Getenv("WEIR_STATE_BENCH_COPY") == "1",
			RestoreCommand: []string{os.Args[0], "-test.run=^TestRestoreChild$", "-test.count=1"}})
		if err != nil {
			b.Fatal(err)
		}
		PrintState(os.Stdout, r)
	}
}

// TestRestoreChild is the new process in which BenchmarkSavepointState
// (StateOptions.RestoreCommand) restores a savepoint; run alone, it skips.
func TestRestoreChild(t *testing.T) {
	ok, err := RestoreChild(os.Stdout)
	if !ok {
		t.Skip("run by BenchmarkSavepointState in a new process")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointedQuery: a query run with checkpoints produces the same
// results and leaves a completed checkpoint.
func TestCheckpointedQuery(t *testing.T) {
	dir := t.TempDir()
	without, with, err := CheckpointOverhead("q5", 2, 600_000, 50*time.Millisecond, dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if without.Results != with.Results {
		t.Fatalf("results %d without checkpoints, %d with", without.Results, with.Results)
	}
	chks, _ := filepath.Glob(filepath.Join(dir, "*", "chk-*", "_metadata"))
	if len(chks) == 0 {
		t.Fatal("no checkpoint was completed")
	}
}

// BenchmarkCheckpointOverhead reports q5's events/CPU-s without and with
// checkpoints when WEIR_CKPT_BENCH_EVENTS is set; see BENCHMARKS.md.
func BenchmarkCheckpointOverhead(b *testing.B) {
	events, _ := strconv.ParseInt(os.Getenv("WEIR_CKPT_BENCH_EVENTS"), 10, 64)
	if events == 0 {
		b.Skip("set WEIR_CKPT_BENCH_EVENTS")
	}
	for _, iv := range []time.Duration{10 * time.Second, time.Second} {
		without, with, err := CheckpointOverhead("q5", 2, events, iv, b.TempDir(), 3)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("q5 p=2 %d events: %.0f events/CPU-s without checkpoints, %.0f with one every %v: overhead %.1f%%\n",
			events, without.PerCPUSecond(), with.PerCPUSecond(), iv, 100*(1-with.PerCPUSecond()/without.PerCPUSecond()))
	}
}
