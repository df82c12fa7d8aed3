package format

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// mapsFiles reports whether this platform maps data files (Mapped).
func mapsFiles(t *testing.T) bool {
	f, err := os.CreateTemp(t.TempDir(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	_, err = mapFile(f, 10, 50)
	if err != nil && !errors.Is(err, errNoMapping) {
		t.Fatal(err)
	}
	return err == nil
}

// TestMappedRuns: mapped, every run of a block stored uncompressed carries
// its mapping as Keep, and runs of compressed blocks (decompressed into a
// buffer) do not; unmapped reads carry none. Once no Keep is held, every
// mapping is unmapped.
func TestMappedRuns(t *testing.T) {
	maps := mapsFiles(t)
	for _, c := range []Compression{NoCompression, ZstdCompression} {
		fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 2048, Compression: c})
		s, err := Open(fx.dir)
		if err != nil {
			t.Fatal(err)
		}
		plain, packed := 0, 0 // blocks stored uncompressed and compressed
		for _, f := range fx.md.Operator(opAgg).State("count").Files {
			b, err := os.ReadFile(filepath.Join(fx.dir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			for _, blk := range f.Blocks {
				if b[blk.Offset] == blockZstd {
					packed++
				} else {
					plain++
				}
			}
		}
		read := func(opts ...ReadOption) (kept, copied int) {
			err := s.ReadKeyedRuns(opAgg, "count", keyspace.Full, func(run backend.Run) error {
				if run.Keep != nil {
					kept++
				} else {
					copied++
				}
				return nil
			}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return kept, copied
		}
		if kept, _ := read(); kept != 0 {
			t.Errorf("%v: %d runs read into buffers carry a Keep", c, kept)
		}
		kept, copied := read(Mapped())
		wantKept, wantCopied := plain, packed
		if !maps {
			wantKept, wantCopied = 0, plain+packed
		}
		if kept != wantKept || copied != wantCopied {
			t.Errorf("%v, mapped: %d runs carry a Keep and %d do not; want %d and %d (%d blocks stored as they are, %d compressed)",
				c, kept, copied, wantKept, wantCopied, plain, packed)
		}
		if c == ZstdCompression && packed == 0 {
			t.Errorf("no block of the fixture was compressed")
		}
	}
	// Nothing holds a Keep any more: every mapping is unmapped.
	unmapAll(t)
}

// unmapAll waits until every mapping of earlier reads is unmapped: their
// cleanups run after a collection, on a goroutine of their own. It fails tb
// if some stay mapped (something still holds them).
func unmapAll(tb testing.TB) {
	tb.Helper()
	for i := 0; liveMappings.Load() != 0; i++ {
		if i == 1000 {
			tb.Fatalf("%d mappings still mapped", liveMappings.Load())
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// TestMappedFileTruncatedWhileRead: a data file truncated while a mapped
// read is in it makes the read fail with ErrTruncated naming the file, as
// a read into buffers does, instead of killing the process.
func TestMappedFileTruncatedWhileRead(t *testing.T) {
	if !mapsFiles(t) {
		t.Skip("files are not mapped on this platform")
	}
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 2048})
	s, err := Open(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, f := range fx.md.Operator(opAgg).State("count").Files {
		files[f.Path] = true
	}
	runs := 0
	err = s.ReadKeyedRuns(opAgg, "count", keyspace.Full, func(run backend.Run) error {
		if runs++; runs == 1 {
			for f := range files {
				if err := os.Truncate(filepath.Join(fx.dir, f), 4096); err != nil {
					t.Fatal(err)
				}
			}
		}
		return nil
	}, Mapped())
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) || !files[fe.File] {
		t.Fatalf("after the files were truncated, the read returned %v; want ErrTruncated naming one of them", err)
	}
	t.Logf("%d runs, then: %v", runs, err)
}
