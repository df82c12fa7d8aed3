package format

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// The benchmarks write and read 256 MiB of keyed state: 4Mi entries of a
// 16-byte key and a 48-byte value (plus an 8-byte hash each), split over
// `streams` subtasks writing or reading concurrently, and compare with the
// disk's own fsync'd sequential write and read of the same number of bytes.
const (
	benchEntries  = 4 << 20
	benchKeySize  = 16
	benchValSize  = 48
	benchLogical  = benchEntries * (benchKeySize + benchValSize)
	benchDiskSize = benchLogical
	benchStep     = ^uint64(0) / benchEntries // hash distance between entries
)

// benchEntry fills key and value for entry i of n: hashes ascend evenly
// over the hash space; values look like an aggregate (counters, a
// timestamp, a few random-ish bytes).
func benchEntry(i uint64, key, val []byte) backend.Entry {
	h := i * benchStep
	copy(key, "user:")
	binary.BigEndian.PutUint64(key[8:], i*2654435761)
	binary.LittleEndian.PutUint64(val[0:], i%1000)
	binary.LittleEndian.PutUint64(val[8:], 1_700_000_000_000+i*17)
	binary.LittleEndian.PutUint64(val[16:], (i*0x9e3779b97f4a7c15)>>32)
	binary.LittleEndian.PutUint64(val[24:], i*3)
	copy(val[32:], "EUR\x00auction\x00bid")
	return backend.Entry{Hash: h, Key: key, Value: val}
}

// writeBench writes the benchmark state into a new snapshot in dir from
// `streams` subtasks and returns the snapshot's directory.
func writeBench(b *testing.B, parent string, streams int, opts *Options) string {
	w, err := Create(parent, [16]byte{0xbe}, opts)
	if err != nil {
		b.Fatal(err)
	}
	st := State{Name: "s", Kind: KeyedValue}
	files := make([]KeyedFile, streams)
	var wg sync.WaitGroup
	for sub := range streams {
		wg.Go(func() {
			kw, err := w.Keyed(opAgg, sub)
			if err != nil {
				b.Error(err)
				return
			}
			_ = kw.StartState("s")
			key, val := make([]byte, benchKeySize), make([]byte, benchValSize)
			r := keyspace.RangeOf(sub, streams)
			for i := r.Lo/benchStep + min(r.Lo%benchStep, 1); i < benchEntries && i <= r.Hi/benchStep; i++ {
				e := benchEntry(i, key, val)
				if err := kw.Add(e); err != nil {
					b.Error(err)
					return
				}
			}
			fs, err := kw.Close()
			if err != nil {
				b.Error(err)
				return
			}
			files[sub] = fs["s"]
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	st.Files = files
	md := &Metadata{Kind: Savepoint, Operators: []Operator{{ID: opAgg, Parallelism: streams, States: []State{st}}}}
	if err := w.Finish(md); err != nil {
		b.Fatal(err)
	}
	return w.Dir()
}

func dirSize(b *testing.B, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, _ := e.Info()
		n += fi.Size()
	}
	return n
}

var benchCompressions = []struct {
	name string
	c    Compression
}{{"raw", NoCompression}, {"zstd", ZstdCompression}}

// BenchmarkWrite reports savepoint write throughput in MB/s of logical
// entry bytes (key + value), fsync included.
func BenchmarkWrite(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 256 MiB per iteration")
	}
	for _, streams := range []int{1, 2} {
		for _, c := range benchCompressions {
			b.Run(fmt.Sprintf("%s/streams=%d", c.name, streams), func(b *testing.B) {
				b.SetBytes(benchLogical)
				b.ReportAllocs()
				var size int64
				for b.Loop() {
					parent := b.TempDir()
					dir := writeBench(b, parent, streams, &Options{Compression: c.c})
					b.StopTimer()
					size = dirSize(b, dir)
					_ = os.RemoveAll(parent)
					b.StartTimer()
				}
				b.ReportMetric(float64(size)/float64(benchLogical), "disk/logical")
			})
		}
	}
	// The disk's own fsync'd sequential write of as many bytes.
	b.Run("disk", func(b *testing.B) {
		b.SetBytes(benchDiskSize)
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for b.Loop() {
			p := filepath.Join(b.TempDir(), "disk")
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < benchDiskSize; n += len(buf) {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
			b.StopTimer()
			_ = os.Remove(p)
			b.StartTimer()
		}
	})
}

// BenchmarkRead reports restore throughput in MB/s of logical entry bytes:
// every entry of the state read back over the full hash range, from the page
// cache (warm) and after dropping the files' cached pages (cold), and in
// runs as a restore reads them (warm-runs, cold-runs), also with the files
// mapped as a restore maps them (warm-runs-mapped, cold-runs-mapped).
func BenchmarkRead(b *testing.B) {
	if testing.Short() {
		b.Skip("reads 256 MiB per iteration")
	}
	for _, c := range benchCompressions {
		for _, cache := range []string{"warm", "cold", "warm-runs", "cold-runs", "warm-runs-mapped", "cold-runs-mapped"} {
			b.Run(c.name+"/"+cache, func(b *testing.B) {
				dir := writeBench(b, b.TempDir(), 1, &Options{Compression: c.c})
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(benchLogical)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if strings.HasPrefix(cache, "cold") {
						b.StopTimer()
						unmapAll(b)
						evictDir(b, dir)
						b.StartTimer()
					}
					var n int
					var err error
					if strings.Contains(cache, "runs") {
						var opts []ReadOption
						if strings.HasSuffix(cache, "mapped") {
							opts = append(opts, Mapped())
						}
						err = s.ReadKeyedRuns(opAgg, "s", keyspace.Full, func(run backend.Run) error {
							n += run.N
							return nil
						}, opts...)
					} else {
						err = s.ReadKeyed(opAgg, "s", keyspace.Full, func(e backend.Entry) error {
							n++
							return nil
						})
					}
					if err != nil {
						b.Fatal(err)
					}
					if n != benchEntries {
						b.Fatalf("read %d entries, want %d", n, benchEntries)
					}
				}
			})
		}
	}
	// A restore reads a subtask's range from every file that holds part
	// of it, one after another: the files of 4 writers, cold, in runs.
	b.Run("raw/cold-runs-4files", func(b *testing.B) {
		dir := writeBench(b, b.TempDir(), 4, nil)
		s, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchLogical)
		for b.Loop() {
			b.StopTimer()
			evictDir(b, dir)
			b.StartTimer()
			n := 0
			if err := s.ReadKeyedRuns(opAgg, "s", keyspace.Full, func(run backend.Run) error { n += run.N; return nil }); err != nil {
				b.Fatal(err)
			}
			if n != benchEntries {
				b.Fatalf("read %d entries, want %d", n, benchEntries)
			}
		}
	})
	b.Run("disk/cold", func(b *testing.B) {
		dir := b.TempDir()
		p := filepath.Join(dir, "disk")
		buf := make([]byte, 1<<20)
		f, _ := os.Create(p)
		for n := 0; n < benchDiskSize; n += len(buf) {
			_, _ = f.Write(buf)
		}
		_ = f.Sync()
		_ = f.Close()
		b.SetBytes(benchDiskSize)
		for b.Loop() {
			b.StopTimer()
			evictDir(b, dir)
			b.StartTimer()
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			for {
				n, err := f.Read(buf)
				if n == 0 || err != nil {
					break
				}
			}
			_ = f.Close()
		}
	})
}

// BenchmarkRescale restores state written by 4 subtasks at parallelism 3
// and 7, every new subtask reading its hash range, and reports the bytes a
// subtask reads against its share (total / p'), at worst and on average.
func BenchmarkRescale(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 256 MiB")
	}
	dir := writeBench(b, b.TempDir(), 4, nil)
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	total := dirSize(b, dir) - int64(len(EncodeMetadata(s.Metadata())))
	for _, p := range []int{3, 7} {
		b.Run(fmt.Sprintf("4to%d", p), func(b *testing.B) {
			b.SetBytes(benchLogical)
			b.ReportAllocs()
			var worst, sum int64
			for b.Loop() {
				worst, sum = 0, 0
				for j := range p {
					var st ReadStats
					if err := s.ReadKeyed(opAgg, "s", keyspace.RangeOf(j, p), func(backend.Entry) error { return nil }, WithStats(&st)); err != nil {
						b.Fatal(err)
					}
					worst = max(worst, st.Bytes)
					sum += st.Bytes
				}
			}
			share := float64(total) / float64(p)
			b.ReportMetric(float64(worst)/share, "worst-read/share")
			b.ReportMetric(float64(sum)/float64(total), "all-read/total")
		})
	}
}

// BenchmarkScanBlock measures scanBlock, the per-entry walk of a restore in
// runs, over a 64 KiB payload of the benchmarks' entries (per entry): the
// whole block in range, and a range that takes its middle third.
func BenchmarkScanBlock(b *testing.B) {
	var p []byte
	var idx Block
	key, val := make([]byte, benchKeySize), make([]byte, benchValSize)
	for i := uint64(0); len(p) < DefaultBlockSize; i++ {
		e := benchEntry(i, key, val)
		if i == 0 {
			idx.FirstHash = e.Hash
		}
		idx.LastHash = e.Hash
		p = appendEntry(p, e)
		idx.Entries++
	}
	third := (idx.LastHash - idx.FirstHash) / 3
	for _, c := range []struct {
		name   string
		lo, hi uint64
	}{{"all", 0, ^uint64(0)}, {"middle", idx.FirstHash + third, idx.FirstHash + 2*third}} {
		b.Run(c.name, func(b *testing.B) {
			var offs []uint32
			b.SetBytes(int64(len(p)) / int64(idx.Entries))
			b.ReportAllocs()
			for done := 0; done < b.N; done += int(idx.Entries) {
				sc, err := scanBlock(p, &idx, 0, c.lo, c.hi, offs)
				if err != nil || sc.n == 0 {
					b.Fatalf("scanBlock: %d entries, %v", sc.n, err)
				}
				offs = sc.offs
			}
		})
	}
}

// BenchmarkAddEncoded reports the cost per entry of KeyedWriter.AddEncoded
// for shards as a backend hands them over: 8,192 entries of 48-byte values
// encoded one after another in hash order. cpu-ns/entry is the CPU time of
// the calling thread alone (the sink writes on goroutines of its own), the
// figure to compare; ns/entry is wall time, writes included. The file goes
// to the directory WEIR_BENCH_DIR names if set, or to a temporary one.
func BenchmarkAddEncoded(b *testing.B) {
	const shard = 8192
	var buf []byte
	spans := make([]backend.Span, shard)
	key, val := make([]byte, benchKeySize), make([]byte, benchValSize)
	for i := range shard {
		e := benchEntry(uint64(i), key, val)
		e.Key = key[8:] // an int64's eight bytes
		off := len(buf)
		buf = backend.AppendEncoded(buf, e)
		spans[i] = backend.Span{Off: off, Len: len(buf) - off}
	}
	parent := os.Getenv("WEIR_BENCH_DIR")
	if parent == "" {
		parent = b.TempDir()
	}
	w, err := Create(parent, [16]byte{0xbe}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Abort() }()
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, cpuOK := threadCPU()
	n := 0
	for b.Loop() {
		// Each shard a state of its own, so that hashes start again.
		if err := kw.StartState(fmt.Sprint("s", n)); err != nil {
			b.Fatal(err)
		}
		n++
		if err := kw.AddEncoded(buf, spans); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if cpu1, ok := threadCPU(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(n*shard), "cpu-ns/entry")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*shard), "ns/entry")
	if _, err := kw.Close(); err != nil {
		b.Fatal(err)
	}
}
