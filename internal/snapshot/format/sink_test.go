package format

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir/internal/keyspace"
)

// TestSinkWritesBehind writes a data file of many batches, ten times the
// sink's sync interval (made small), with entries of uneven sizes and one
// larger than a batch (so that a buffer grows). While it writes, the file
// keeps at most three sync intervals and the sink's buffers in the page
// cache; once closed, none of it. The file is exactly as long as its
// blocks and reads back.
func TestSinkWritesBehind(t *testing.T) {
	w, err := CreateIn(filepath.Join(t.TempDir(), "s"), &Options{BlockSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const every = 4 << 20
	w.syncEvery = every
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.StartState("s"); err != nil {
		t.Fatal(err)
	}
	var (
		es    []entry
		bytes int
	)
	for i := 0; bytes < 10*every; i++ {
		v := strings.Repeat(string(rune('a'+i%26)), i%1501)
		if i == 7_000 {
			v = strings.Repeat("h", 3*batchSize)
		}
		es = append(es, entry{uint64(i) * 0x1000_0000, fmt.Sprint(i), "", v})
		bytes += len(v)
	}
	drops := dropsCache(t, t.TempDir())
	// Written but not yet dropped: the range being synced, the one asked
	// for next, the one being written, and what write-back has not been
	// started for; the buffers still queued are not in the file yet.
	limit := int64(3*every + bytesPerSync + batchSize)
	most, checks := int64(0), 0
	for i, e := range es {
		if err := kw.Add(e.backend()); err != nil {
			t.Fatal(err)
		}
		if i%500 != 0 {
			continue
		}
		cached, ok := cachedBytes(t, kw.tmp)
		if !ok || !drops {
			continue
		}
		checks++
		most = max(most, cached)
		if cached > limit {
			t.Fatalf("after %d entries, %d bytes of the data file being written are in the page cache, want at most %d", i+1, cached, limit)
		}
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := files["s"]
	last := f.Blocks[len(f.Blocks)-1]
	path := filepath.Join(w.Dir(), f.Path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(last.Offset + last.Length); fi.Size() != want {
		t.Fatalf("data file has %d bytes, its blocks end at %d", fi.Size(), want)
	}
	if cached, ok := cachedBytes(t, path); ok && drops && cached > 0 {
		t.Fatalf("%d bytes of the closed %d-byte data file are in the page cache, want none", cached, fi.Size())
	} else {
		t.Logf("%d-byte data file: at most %d bytes in the page cache in %d checks while written (known: %v, dropped on request: %v)", fi.Size(), most, checks, ok, drops)
	}
	md := &Metadata{Kind: Checkpoint, Operators: []Operator{{ID: opAgg, Parallelism: 1,
		States: []State{{Name: "s", Kind: KeyedValue, Files: []KeyedFile{f}}}}}}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
	s, err := Open(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, opAgg, "s", keyspace.Full, nil); !slices.Equal(got, es) {
		t.Fatalf("read %d entries back, want the %d written", len(got), len(es))
	}
}

// TestSinkErrors: a write that fails in the sink's goroutine, and a sync
// that fails while the file is written (Linux reports a write-back error to
// one sync only), surface from Add or Close with the file's name and the
// cause, and the temporary file is removed.
func TestSinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*Writer)
		broke func(*KeyedWriter)
		want  string
	}{
		{"write", nil, func(kw *KeyedWriter) { _ = kw.f.Close() }, "file already closed"},
		{"sync", func(w *Writer) {
			w.syncEvery = 2 * batchSize
			w.syncFile = func(*os.File) error { return errors.New("injected write-back error") }
		}, nil, "sync: injected write-back error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			w, err := CreateIn(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(w)
			}
			kw, err := w.Keyed(opAgg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := kw.StartState("s"); err != nil {
				t.Fatal(err)
			}
			if tc.broke != nil {
				tc.broke(kw)
			}
			val := strings.Repeat("x", 1000)
			var addErr error
			for i := range 10_000 {
				if addErr = kw.Add(entry{uint64(i), "k", "", val}.backend()); addErr != nil {
					break
				}
			}
			_, closeErr := kw.Close()
			err = errors.Join(addErr, closeErr)
			if err == nil || !strings.Contains(err.Error(), KeyedFileName(opAgg, 0)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s with %q", err, KeyedFileName(opAgg, 0), tc.want)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Fatalf("files left behind: %v", left)
			}
		})
	}
}

// dropsCache reports whether the file system of dir drops a file's synced
// pages from the page cache when asked (fadvise DONTNEED), as the page cache
// checks of the sink tests assume: some (tmpfs, FUSE, network file systems)
// do not, and cachedBytes cannot tell on every one.
func dropsCache(t *testing.T, dir string) bool {
	path := filepath.Join(dir, "probe")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	dropCache(f, 0, 0)
	cached, ok := cachedBytes(t, path)
	if !ok || cached > 0 {
		t.Logf("%s does not drop cached pages on request (known: %v, %d bytes cached): the page cache is not checked", dir, ok, cached)
		return false
	}
	return true
}

// TestSinkAbortDuringSync: an abort while a sync is under way waits for it,
// skips the syncs still asked for, and removes the temporary file.
func TestSinkAbortDuringSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	w, err := CreateIn(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	w.syncEvery = batchSize
	w.syncFile = func(f *os.File) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return f.Sync()
	}
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.StartState("s"); err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("x", 1000)
	for i := 0; ; i++ {
		if err := kw.Add(entry{uint64(i), "k", "", val}.backend()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		default:
			continue
		}
		break
	}
	aborted := make(chan struct{})
	go func() {
		kw.Abort()
		close(aborted)
	}()
	for !kw.sink.aborted.Load() {
		runtime.Gosched()
	}
	select {
	case <-aborted:
		t.Fatal("Abort returned while a sync was under way")
	default:
	}
	close(release)
	<-aborted
	if n := calls.Load(); n != 1 {
		t.Errorf("%d syncs, want the one under way only", n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}
