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

// TestSinkModes writes data files of several batches (so that the sink
// cycles its buffers and carries unaligned tails over) with direct I/O
// tried and with it off, and checks that each file is exactly as long as
// its blocks (no padding left behind) and reads back.
func TestSinkModes(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			defer func(old bool) { directIO = old }(directIO)
			directIO = direct
			w, err := CreateIn(filepath.Join(t.TempDir(), "s"), &Options{BlockSize: 4000})
			if err != nil {
				t.Fatal(err)
			}
			kw, err := w.Keyed(opAgg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if direct {
				t.Logf("direct I/O in use: %v", kw.sink.direct)
			} else if kw.sink.direct {
				t.Fatal("direct I/O in use although turned off")
			}
			if err := kw.StartState("s"); err != nil {
				t.Fatal(err)
			}
			// About 4.5 MB of entries of uneven sizes.
			var es []entry
			for i := range 60_000 {
				es = append(es, entry{uint64(i) * 0x1000_0000_0000, fmt.Sprint(i), "", strings.Repeat("v", i%151)})
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
		})
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
