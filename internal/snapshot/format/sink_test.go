package format

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/keyspace"
)

// TestSinkWritesBehind writes a data file of many batches, four times the
// sink's write-behind window (so that ranges are
// written back and dropped while it writes), with entries of uneven sizes
// and one larger than a batch (so that a buffer grows), and checks that the
// file is exactly as long as its blocks and reads back.
func TestSinkWritesBehind(t *testing.T) {
	w, err := CreateIn(filepath.Join(t.TempDir(), "s"), &Options{BlockSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
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
	for i := 0; bytes < 4*dropBehind; i++ {
		v := strings.Repeat(string(rune('a'+i%26)), i%1501)
		if i == 7_000 {
			v = strings.Repeat("h", 3*batchSize)
		}
		es = append(es, entry{uint64(i) * 0x1000_0000, fmt.Sprint(i), "", v})
		bytes += len(v)
	}
	for _, e := range es {
		if err := kw.Add(e.backend()); err != nil {
			t.Fatal(err)
		}
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := files["s"]
	last := f.Blocks[len(f.Blocks)-1]
	fi, err := os.Stat(filepath.Join(w.Dir(), f.Path))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(last.Offset + last.Length); fi.Size() != want {
		t.Fatalf("data file has %d bytes, its blocks end at %d", fi.Size(), want)
	}
	// What was written behind was dropped from the page cache: at most the
	// last two windows and what followed them stay.
	if cached, ok := cachedBytes(t, filepath.Join(w.Dir(), f.Path)); ok && cached > 3*dropBehind {
		t.Fatalf("%d bytes of the %d-byte data file are in the page cache, want at most %d", cached, fi.Size(), 3*dropBehind)
	} else {
		t.Logf("%d bytes of the %d-byte data file in the page cache (known: %v)", cached, fi.Size(), ok)
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

// TestSinkWriteError: a write that fails in the sink's goroutine surfaces
// from Add or Close with the file's name, and the temporary file is removed.
func TestSinkWriteError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	w, err := CreateIn(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = kw.StartState("s")
	_ = kw.f.Close() // every write now fails
	val := strings.Repeat("x", 1000)
	var addErr error
	for i := range 10_000 {
		if addErr = kw.Add(entry{uint64(i), "k", "", val}.backend()); addErr != nil {
			break
		}
	}
	_, closeErr := kw.Close()
	err = errors.Join(addErr, closeErr)
	if err == nil || !strings.Contains(err.Error(), KeyedFileName(opAgg, 0)) {
		t.Fatalf("got %v, want a write error naming %s", err, KeyedFileName(opAgg, 0))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}
