package format

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

func TestNewDirName(t *testing.T) {
	id := [16]byte{0xab, 0xcd, 0xef, 0x12}
	a, b := NewDirName(id), NewDirName(id)
	if !strings.HasPrefix(a, "savepoint-abcdef-") || len(a) != len("savepoint-abcdef-")+12 {
		t.Fatalf("NewDirName = %q", a)
	}
	if a == b {
		t.Fatalf("two names are equal: %q", a)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 1024})
	b := EncodeMetadata(fx.md)
	got, err := DecodeMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fx.md) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, fx.md)
	}
	if again := EncodeMetadata(got); string(again) != string(b) {
		t.Fatal("re-encoding the decoded metadata gives other bytes")
	}
	if op := got.Operator(opAgg); op == nil || op.State("timers") == nil || op.State("nope") != nil {
		t.Fatal("Operator/State lookups")
	}
	if got.Operator(OperatorID{}) != nil {
		t.Fatal("Operator found a missing ID")
	}
}

func TestMetadataValidate(t *testing.T) {
	okFile := KeyedFile{Path: "a.dat", Blocks: []Block{{FirstHash: 1, LastHash: 2, Offset: 16, Length: 40, Entries: 1}}}
	for _, tc := range []struct {
		name string
		mod  func(md *Metadata)
		want string
	}{
		{"ok", func(*Metadata) {}, ""},
		{"kind", func(md *Metadata) { md.Kind = 0 }, "snapshot kind"},
		{"dup op", func(md *Metadata) { md.Operators = append(md.Operators, md.Operators[0]) }, "twice"},
		{"parallelism", func(md *Metadata) { md.Operators[0].Parallelism = 0 }, "parallelism"},
		{"dup state", func(md *Metadata) {
			md.Operators[0].States = append(md.Operators[0].States, md.Operators[0].States[0])
		}, "twice"},
		{"state kind", func(md *Metadata) { md.Operators[0].States[0].Kind = 99 }, "unknown state kind"},
		{"lists on keyed", func(md *Metadata) { md.Operators[0].States[0].Lists = []OperatorList{{}} }, "operator lists"},
		{"files on list", func(md *Metadata) { md.Operators[0].States[0].Kind = ListUnion }, "data files"},
		{"abs path", func(md *Metadata) { md.Operators[0].States[0].Files[0].Path = "/etc/passwd" }, "not a clean path"},
		{"dotdot", func(md *Metadata) { md.Operators[0].States[0].Files[0].Path = "../x.dat" }, "not a clean path"},
		{"metadata path", func(md *Metadata) { md.Operators[0].States[0].Files[0].Path = "_metadata" }, "metadata file"},
		{"no blocks", func(md *Metadata) { md.Operators[0].States[0].Files[0].Blocks = nil }, "no blocks"},
		{"header overlap", func(md *Metadata) { md.Operators[0].States[0].Files[0].Blocks[0].Offset = 3 }, "overlaps"},
		{"hash order", func(md *Metadata) {
			f := &md.Operators[0].States[0].Files[0]
			f.Blocks = append(f.Blocks, Block{FirstHash: 1, LastHash: 1, Offset: 56, Length: 40, Entries: 1})
		}, "previous block"},
		{"no entries", func(md *Metadata) { md.Operators[0].States[0].Files[0].Blocks[0].Entries = 0 }, "no entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := okFile
			f.Blocks = slices.Clone(f.Blocks)
			md := &Metadata{Kind: Checkpoint, Operators: []Operator{{Parallelism: 1,
				States: []State{{Name: "s", Kind: KeyedValue, Files: []KeyedFile{f}}}}}}
			tc.mod(md)
			err := md.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			// What Validate rejects, DecodeMetadata rejects.
			if tc.name == "lists on keyed" || tc.name == "files on list" {
				return // the encoding drops what is wrong
			}
			if _, err := DecodeMetadata(EncodeMetadata(md)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeMetadata = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestReadAtAnyParallelism(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 512})

	// Move the directory elsewhere: relative references keep it readable.
	moved := filepath.Join(t.TempDir(), "elsewhere", filepath.Base(fx.dir))
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fx.dir, moved); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{moved, filepath.Join(moved, MetadataFile)} {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir() != moved {
			t.Fatalf("Dir = %s, want %s", s.Dir(), moved)
		}
		if !reflect.DeepEqual(s.Metadata(), fx.md) {
			t.Fatal("metadata differs from what was written")
		}
	}
	s, err := Open(moved)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}

	for op, states := range fx.keyed {
		for name, want := range states {
			st := s.Metadata().Operator(op).State(name)
			var total, maxBlock uint64
			for _, f := range st.Files {
				total += dataHeaderSize
				for _, b := range f.Blocks {
					total += b.Length
					maxBlock = max(maxBlock, b.Length)
				}
			}
			for p := 1; p <= 7; p++ {
				var all []entry
				var sum int64
				for j := range p {
					r := keyspace.RangeOf(j, p)
					var stats ReadStats
					got := readAll(t, s, op, name, r, &stats)
					if want := ofSubtask(want, j, p); !slices.Equal(got, want) {
						t.Fatalf("%s p=%d range %d: %d entries, want %d", name, p, j, len(got), len(want))
					}
					if stats.Entries != int64(len(got)) {
						t.Fatalf("stats.Entries = %d, want %d", stats.Entries, len(got))
					}
					// A range reads exactly the blocks that overlap it (and
					// the headers of their files): about its share, plus at
					// most two partial blocks and a header per file.
					var overlapping uint64
					for _, f := range st.Files {
						var n uint64
						for _, b := range f.Blocks {
							if r.Overlaps(keyspace.Range{Lo: b.FirstHash, Hi: b.LastHash}) {
								n += b.Length
							}
						}
						if n > 0 {
							overlapping += n + dataHeaderSize
						}
					}
					if uint64(stats.Bytes) != overlapping {
						t.Errorf("%s p=%d range %d: read %d bytes, the overlapping blocks hold %d", name, p, j, stats.Bytes, overlapping)
					}
					slack := uint64(len(st.Files)) * (2*maxBlock + dataHeaderSize)
					if share := total / uint64(p); total > 0 && uint64(stats.Bytes) > share+share/4+slack {
						t.Errorf("%s p=%d range %d: read %d bytes of %d (share %d, slack %d)", name, p, j, stats.Bytes, total, share, slack)
					}
					if p == 4 && total > 20_000 && float64(stats.Bytes) > 0.4*float64(total) {
						t.Errorf("%s p=4 range %d: read %d bytes, more than 40%% of %d", name, j, stats.Bytes, total)
					}
					all = append(all, got...)
					sum += stats.Bytes
				}
				if !slices.Equal(all, want) {
					t.Fatalf("%s p=%d: the ranges together yield %d entries, want each of %d exactly once in order", name, p, len(all), len(want))
				}
				if p == 4 {
					t.Logf("%s: p'=4 reads %d of %d bytes in all (%.0f%%)", name, sum, total, 100*float64(sum)/float64(max(total, 1)))
				}
			}
		}
	}
}

func TestReadKeyedErrors(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), nil)
	s, err := Open(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	noop := func(backend.Entry) error { return nil }
	for _, tc := range []struct {
		op    OperatorID
		state string
	}{{OperatorID{9}, "count"}, {opAgg, "nope"}, {opSource, "source-splits"}} {
		if err := s.ReadKeyed(tc.op, tc.state, keyspace.Full, noop); !errors.Is(err, ErrNoState) {
			t.Errorf("ReadKeyed(%s, %q) = %v, want ErrNoState", tc.op, tc.state, err)
		}
	}
	// An empty keyed state has no files and yields nothing.
	if got := readAll(t, s, opJoin, "empty", keyspace.Full, nil); len(got) != 0 {
		t.Fatalf("empty state yields %d entries", len(got))
	}
	// fn's error comes back as is.
	stop := errors.New("stop")
	if err := s.ReadKeyed(opAgg, "count", keyspace.Full, func(backend.Entry) error { return stop }); err != stop {
		t.Fatalf("ReadKeyed = %v, want the callback's error", err)
	}
}

// checkFileError checks that err is a *FileError about file in dir.
func checkFileError(t *testing.T, err error, dir, file string, is error) *FileError {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if fe.Dir != dir || fe.File != file {
		t.Fatalf("error names %s / %s, want %s / %s: %v", fe.Dir, fe.File, dir, file, err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), file) {
		t.Fatalf("message does not name the directory and file: %v", err)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %v is not %v", err, is)
	}
	return fe
}

// verifyMapped is Snapshot.Verify through ReadKeyedRuns of mapped files.
func verifyMapped(s *Snapshot) error {
	for _, op := range s.Metadata().Operators {
		for _, st := range op.States {
			if !st.Kind.IsKeyed() {
				continue
			}
			if err := s.ReadKeyedRuns(op.ID, st.Name, keyspace.Full, func(backend.Run) error { return nil }, Mapped()); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestTruncation(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 2048})
	dataFile := fx.md.Operator(opAgg).State("count").Files[1].Path
	for _, file := range []string{MetadataFile, dataFile} {
		orig, err := os.ReadFile(filepath.Join(fx.dir, file))
		if err != nil {
			t.Fatal(err)
		}
		dir := copyDir(t, fx.dir)
		for n := 0; n < len(orig); n += 97 {
			if err := os.WriteFile(filepath.Join(dir, file), orig[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err == nil {
				err = s.Verify()
			}
			fe := checkFileError(t, err, dir, file, ErrTruncated)
			if !strings.Contains(fe.Reason, fmt.Sprintf("found %d", n)) {
				t.Fatalf("truncated to %d bytes: reason %q does not say what it found", n, fe.Reason)
			}
			if s != nil {
				checkFileError(t, verifyMapped(s), dir, file, ErrTruncated)
			}
		}
		t.Logf("%s truncated: %v", file, func() error {
			s, err := Open(dir)
			if err == nil {
				err = s.Verify()
			}
			return err
		}())
	}
}

func TestByteFlips(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 2048})
	dataFile := fx.md.Operator(opJoin).State("buffer").Files[2].Path
	for _, file := range []string{MetadataFile, dataFile} {
		orig, err := os.ReadFile(filepath.Join(fx.dir, file))
		if err != nil {
			t.Fatal(err)
		}
		dir := copyDir(t, fx.dir)
		step := len(orig)/600 | 1 // some 600 flips, and all of the header
		for off := 0; off < len(orig); off = next(off, step) {
			b := slices.Clone(orig)
			b[off] ^= 0x10
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err == nil {
				err = s.Verify()
			}
			if err == nil {
				t.Fatalf("%s: flipping a bit at offset %d goes unnoticed", file, off)
			}
			headerSize := metaHeaderSize
			if file != MetadataFile {
				headerSize = dataHeaderSize
			}
			var is error = ErrChecksum
			if off < headerSize {
				is = nil // bad magic, version or length: any clear error
			}
			checkFileError(t, err, dir, file, is)
			if s != nil {
				checkFileError(t, verifyMapped(s), dir, file, is)
			}
		}
		t.Logf("%s flipped: %v", file, func() error {
			b := slices.Clone(orig)
			b[len(b)/2] ^= 1
			_ = os.WriteFile(filepath.Join(dir, file), b, 0o644)
			s, err := Open(dir)
			if err == nil {
				err = s.Verify()
			}
			return err
		}())
	}
}

func next(off, step int) int {
	if off < 64 {
		return off + 1
	}
	return off + step
}

func TestHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	good := EncodeMetadata(&Metadata{Kind: Checkpoint})
	newer := slices.Clone(good)
	newer[8] = 7
	for _, tc := range []struct {
		name string
		b    []byte
		is   error
		want string
	}{
		{"text", []byte("hello, this is not a savepoint at all"), ErrNotSnapshot, "not a weir savepoint"},
		{"empty", nil, ErrTruncated, "expected at least 26 bytes, found 0"},
		{"newer", newer, ErrUnsupportedVersion, "written by a newer weir; format version 7, this build reads up to 1"},
		{"trailing", append(slices.Clone(good), 0), ErrInconsistent, "unexpected bytes after the checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, MetadataFile)
			if err := os.WriteFile(p, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{dir, p} {
				_, err := Open(path)
				checkFileError(t, err, dir, MetadataFile, tc.is)
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Open = %v, want %q", err, tc.want)
				}
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "no-such-dir")); !errors.Is(err, ErrNotSnapshot) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %v", err)
	}
}

func TestDataFileErrors(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 1024})
	files := fx.md.Operator(opAgg).State("count").Files
	f0, f1 := files[0].Path, files[1].Path

	t.Run("missing", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		_ = os.Remove(filepath.Join(dir, f0))
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		err = s.ReadKeyed(opAgg, "count", keyspace.Full, func(backend.Entry) error { return nil })
		checkFileError(t, err, dir, f0, ErrMissingFile)
		// A range that does not touch the missing file still reads.
		if got := readAll(t, s, opAgg, "count", keyspace.RangeOf(3, 4), nil); len(got) == 0 {
			t.Fatal("range 3 of 4 is empty")
		}
	})
	t.Run("missing-later", func(t *testing.T) {
		// A file missing after others that were read is reported, for
		// itself, once it is reached, and no file is left open.
		dir := copyDir(t, fx.dir)
		_ = os.Remove(filepath.Join(dir, f1))
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		fds := openFiles(t)
		var before int
		err = s.ReadKeyed(opAgg, "count", keyspace.Full, func(backend.Entry) error { before++; return nil })
		checkFileError(t, err, dir, f1, ErrMissingFile)
		if want := len(ofSubtask(fx.keyed[opAgg]["count"], 0, writeParallelism)); before != want {
			t.Fatalf("%d entries before the error, want the %d of the first file", before, want)
		}
		err = s.ReadKeyedRuns(opAgg, "count", keyspace.Full, func(backend.Run) error { return nil })
		checkFileError(t, err, dir, f1, ErrMissingFile)
		// A reader that stops in the first file leaves nothing open.
		stop := errors.New("stop")
		n := 0
		err = s.ReadKeyedRuns(opAgg, "count", keyspace.Full, func(backend.Run) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("got %v, want the callback's error", err)
		}
		if got := openFiles(t); fds >= 0 && got != fds {
			t.Fatalf("%d files open after the reads, %d before", got, fds)
		}
	})
	t.Run("swapped", func(t *testing.T) {
		// Intact blocks that are not the ones the index describes.
		dir := copyDir(t, fx.dir)
		if err := os.Rename(filepath.Join(dir, f1), filepath.Join(dir, f0)); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		err = s.ReadKeyed(opAgg, "count", keyspace.RangeOf(0, 4), func(backend.Entry) error { return nil })
		checkFileError(t, err, dir, f0, ErrCorrupt)
	})
	t.Run("newer", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		b, _ := os.ReadFile(filepath.Join(dir, f0))
		b[8] = 9
		_ = os.WriteFile(filepath.Join(dir, f0), b, 0o644)
		s, _ := Open(dir)
		err := s.Verify()
		fe := checkFileError(t, err, dir, f0, ErrUnsupportedVersion)
		if fe.Offset != 0 || !strings.Contains(fe.Reason, "data file version 9, this build reads up to 1") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestIncompleteAndAbort(t *testing.T) {
	parent := t.TempDir()
	w, err := Create(parent, [16]byte{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = kw.StartState("count")
	for i := range 100 {
		if err := kw.Add(backend.Entry{Hash: uint64(i), Key: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(&Metadata{Kind: Checkpoint}); err == nil || !strings.Contains(err.Error(), "still open") {
		t.Fatalf("Finish with an open keyed writer = %v", err)
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files["count"].Path != KeyedFileName(opAgg, 0) {
		t.Fatalf("Close = %+v", files)
	}
	_, err = Open(w.Dir())
	fe := checkFileError(t, err, w.Dir(), MetadataFile, ErrIncomplete)
	if !errors.Is(err, ErrNotSnapshot) || !strings.Contains(fe.Error(), "incomplete snapshot (no _metadata)") {
		t.Fatalf("Open(unfinished) = %v", err)
	}
	// A second writer for an open one is removed with it.
	if _, err := w.Keyed(opJoin, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Abort the directory remains: %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("after Abort the parent holds %v", ents)
	}
}

func TestCreateInExistingDir(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "README")
	if err := os.WriteFile(foreign, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := CreateIn(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	kw, _ := w.Keyed(opAgg, 0)
	_ = kw.StartState("s")
	_ = kw.Add(backend.Entry{Hash: 7, Key: []byte("k")})
	if _, err := kw.Close(); err != nil {
		t.Fatal(err)
	}
	open, _ := w.Keyed(opAgg, 1) // left open: its temporary file goes too
	_ = open.StartState("s")
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "README" {
		t.Fatalf("after Abort the directory holds %v, want only README", ents)
	}
	if _, err := open.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("Close after Abort left %v", ents)
	}

	// A complete snapshot is never overwritten.
	fx := writeFixture(t, t.TempDir(), nil)
	if _, err := CreateIn(fx.dir, nil); err == nil || !strings.Contains(err.Error(), "complete snapshot") {
		t.Fatalf("CreateIn(complete) = %v", err)
	}
	w2, _ := CreateIn(fx.dir+"-new", nil)
	if err := w2.Finish(&Metadata{Kind: Savepoint}); err != nil {
		t.Fatal(err)
	}
	if err := w2.Abort(); err == nil {
		t.Fatal("Abort after Finish succeeded")
	}
	if _, err := Open(w2.Dir()); err != nil {
		t.Fatalf("Abort after Finish removed the snapshot: %v", err)
	}
}

func TestWriterRejects(t *testing.T) {
	w, err := CreateIn(t.TempDir(), &Options{BlockSize: 256, Compression: NoCompression})
	if err != nil {
		t.Fatal(err)
	}
	kw, _ := w.Keyed(opAgg, 0)
	if err := kw.Add(backend.Entry{}); err == nil {
		t.Fatal("Add before StartState succeeded")
	}
	kw, _ = w.Keyed(opAgg, 1)
	_ = kw.StartState("s")
	_ = kw.Add(backend.Entry{Hash: 5, Key: []byte("b")})
	if err := kw.Add(backend.Entry{Hash: 5, Key: []byte("a")}); err == nil {
		t.Fatal("out-of-order key accepted")
	}
	if _, err := kw.Close(); err == nil {
		t.Fatal("Close after a failed Add succeeded")
	}
	kw, _ = w.Keyed(opAgg, 2)
	_ = kw.StartState("s")
	_ = kw.Add(backend.Entry{Hash: 5})
	if err := kw.Add(backend.Entry{Hash: 4}); err == nil {
		t.Fatal("out-of-order hash accepted")
	}
	kw, _ = w.Keyed(opAgg, 3)
	_ = kw.StartState("s")
	_ = kw.StartState("t")
	if err := kw.StartState("s"); err == nil {
		t.Fatal("a state written twice")
	}
	kw, _ = w.Keyed(opAgg, 4)
	if _, err := w.Keyed(opAgg, 4); err == nil {
		t.Fatal("two writers for one file")
	}
	kw.Abort()
	if _, err := CreateIn(t.TempDir(), &Options{BlockSize: 1}); err == nil {
		t.Fatal("block size 1 accepted")
	}
	// Metadata referencing a file that is not there.
	md := &Metadata{Kind: Checkpoint, Operators: []Operator{{Parallelism: 1, States: []State{{Name: "s", Kind: KeyedValue,
		Files: []KeyedFile{{Path: "nope.dat", Blocks: []Block{{Offset: 16, Length: 40, Entries: 1}}}}}}}}}
	if err := w.Finish(md); err == nil {
		t.Fatal("Finish with a missing data file succeeded")
	}
}

// TestOverlappingFiles reads a state whose files overlap in hash: the reader
// merges them in order.
func TestOverlappingFiles(t *testing.T) {
	w, err := CreateIn(filepath.Join(t.TempDir(), "snap"), &Options{BlockSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	var want []entry
	st := State{Name: "s", Kind: KeyedValue}
	for sub := range 3 {
		kw, _ := w.Keyed(opAgg, sub)
		_ = kw.StartState("s")
		for i := range 500 {
			// Every file covers the whole range; hash 1000 is in all three.
			h := uint64(i*7+sub) << 40
			if i == 250 {
				h = 250 * 7 << 40
			}
			e := entry{h, fmt.Sprintf("k%d-%d", sub, i), "", "v"}
			want = append(want, e)
			if err := kw.Add(e.backend()); err != nil {
				t.Fatal(err)
			}
		}
		files, err := kw.Close()
		if err != nil {
			t.Fatal(err)
		}
		st.Files = append(st.Files, files["s"])
	}
	slices.SortFunc(want, cmpEntry)
	md := &Metadata{Kind: Checkpoint, Operators: []Operator{{ID: opAgg, Parallelism: 3, States: []State{st}}}}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
	s, err := Open(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for p := 1; p <= 5; p++ {
		var all []entry
		for j := range p {
			all = append(all, readAll(t, s, opAgg, "s", keyspace.RangeOf(j, p), nil)...)
		}
		if !slices.Equal(all, want) {
			t.Fatalf("p=%d: merged read differs (%d entries, want %d)", p, len(all), len(want))
		}
	}
}

// TestCompressionPays checks that compressible blocks are stored compressed,
// incompressible ones raw, and both read back.
func TestCompressionPays(t *testing.T) {
	sizes := map[Compression]int64{}
	for _, c := range []Compression{NoCompression, ZstdCompression} {
		fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 4096, Compression: c})
		s, err := Open(fx.dir)
		if err != nil {
			t.Fatal(err)
		}
		var flags [2]int
		for _, op := range s.Metadata().Operators {
			for _, st := range op.States {
				for _, f := range st.Files {
					b, _ := os.ReadFile(filepath.Join(fx.dir, f.Path))
					for _, blk := range f.Blocks {
						flags[b[blk.Offset]&blockZstd]++
						sizes[c] += int64(blk.Length)
					}
				}
			}
		}
		if err := s.Verify(); err != nil {
			t.Fatal(err)
		}
		if c == NoCompression && flags[1] != 0 || c == ZstdCompression && flags[1] == 0 {
			t.Fatalf("compression %d: %d raw and %d compressed blocks", c, flags[0], flags[1])
		}
	}
	t.Logf("keyed bytes: raw %d, zstd %d (%.0f%%)", sizes[NoCompression], sizes[ZstdCompression],
		100*float64(sizes[ZstdCompression])/float64(sizes[NoCompression]))

	// Random values do not compress: the blocks stay raw.
	w, _ := CreateIn(t.TempDir(), nil)
	kw, _ := w.Keyed(opAgg, 0)
	_ = kw.StartState("s")
	v := make([]byte, 100)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		_ = kw.Add(backend.Entry{Hash: uint64(i), Value: v})
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(w.Dir(), files["s"].Path))
	for _, blk := range files["s"].Blocks {
		if b[blk.Offset]&blockZstd != 0 {
			t.Fatalf("a block of random values was stored compressed")
		}
	}
}

func TestLargeEntry(t *testing.T) {
	// An entry beyond maxCompressedRaw makes a raw block of its own.
	w, _ := CreateIn(filepath.Join(t.TempDir(), "s"), &Options{BlockSize: 1024})
	kw, _ := w.Keyed(opAgg, 0)
	_ = kw.StartState("s")
	big := make([]byte, maxCompressedRaw+10)
	es := []entry{{1, "a", "", "small"}, {2, "b", "", string(big)}, {3, "c", "", "small"}}
	for _, e := range es {
		if err := kw.Add(e.backend()); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := kw.Close()
	md := &Metadata{Kind: Checkpoint, Operators: []Operator{{ID: opAgg, Parallelism: 1,
		States: []State{{Name: "s", Kind: KeyedValue, Files: []KeyedFile{files["s"]}}}}}}
	if err := w.Finish(md); err != nil {
		t.Fatal(err)
	}
	s, _ := Open(w.Dir())
	if got := readAll(t, s, opAgg, "s", keyspace.Full, nil); !slices.Equal(got, es) {
		t.Fatal("large entry did not round-trip")
	}
}

// TestConcurrentReads restores at p'=3 with the subtasks reading at once,
// each counting its own bytes.
func TestConcurrentReads(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 1024, Compression: ZstdCompression})
	s, err := Open(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	const p = 3
	stats := make([]ReadStats, p)
	got := make([]map[string][]entry, p)
	var wg sync.WaitGroup
	for j := range p {
		wg.Go(func() {
			got[j] = map[string][]entry{}
			for _, name := range []string{"count", "window-contents", "timers"} {
				err := s.ReadKeyed(opAgg, name, keyspace.RangeOf(j, p), func(e backend.Entry) error {
					got[j][name] = append(got[j][name], own(e))
					return nil
				}, WithStats(&stats[j]))
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var sum ReadStats
	for j := range p {
		sum.Bytes += stats[j].Bytes
		sum.Blocks += stats[j].Blocks
		sum.Entries += stats[j].Entries
		t.Logf("subtask %d of %d read %d bytes in %d blocks for %d entries", j, p, stats[j].Bytes, stats[j].Blocks, stats[j].Entries)
		for name, want := range fx.keyed[opAgg] {
			if !slices.Equal(got[j][name], ofSubtask(want, j, p)) {
				t.Fatalf("subtask %d state %s differs", j, name)
			}
		}
	}
	if sum != s.Stats() {
		t.Fatalf("per-read stats add up to %+v, the snapshot counted %+v", sum, s.Stats())
	}
}

// TestWriterOrderAcrossBlocks: the order check compares with the previous
// entry whether it is in the open block or in one already flushed, raw or
// compressed.
func TestWriterOrderAcrossBlocks(t *testing.T) {
	for _, c := range []Compression{NoCompression, ZstdCompression} {
		w, err := CreateIn(t.TempDir(), &Options{BlockSize: 256, Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 300) // each entry fills a block
		for i, tc := range []struct {
			first, second []byte
			ok            bool
		}{{[]byte("b"), []byte("a"), false}, {[]byte("a"), []byte("b"), true}} {
			for _, fill := range []bool{false, true} {
				kw, _ := w.Keyed(opAgg, 2*i+btoi(fill))
				_ = kw.StartState("s")
				v := []byte(nil)
				if fill {
					v = big
				}
				if err := kw.Add(backend.Entry{Hash: 5, Key: tc.first, Value: v}); err != nil {
					t.Fatal(err)
				}
				err := kw.Add(backend.Entry{Hash: 5, Key: tc.second, Value: v})
				if (err == nil) != tc.ok {
					t.Fatalf("compression %d, full block %v: %q after %q: %v", c, fill, tc.second, tc.first, err)
				}
				kw.Abort()
			}
		}
		_ = w.Abort()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFinishBlock: a raw block built in place is the block appendBlock
// makes.
func TestFinishBlock(t *testing.T) {
	var payload []byte
	for i := range 50 {
		payload = appendEntry(payload, backend.Entry{Hash: uint64(i), Key: []byte{byte(i)}, Value: make([]byte, i)})
	}
	want, _, wantSum := appendBlock([]byte("prefix"), payload, 50, nil, nil)
	in := append(append([]byte("prefix"), make([]byte, blockHeaderSize)...), payload...)
	got, sum := finishBlock(in, len("prefix"), 50)
	if string(got) != string(want) || sum != wantSum {
		t.Fatalf("finishBlock differs from appendBlock")
	}
}

// openFiles returns the number of files the process has open, or -1 where
// that is unknown.
func openFiles(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// TestCheckFiles: CheckFiles finds what a restore finds as it opens a keyed
// state's data files (missing, truncated, not a data file), names the
// file, and passes files whose blocks are damaged, which only reading
// them finds.
func TestCheckFiles(t *testing.T) {
	fx := writeFixture(t, t.TempDir(), &Options{BlockSize: 2048})
	for _, op := range fx.md.Operators {
		for _, st := range op.States {
			if st.Kind.IsKeyed() {
				if err := mustOpen(t, fx.dir).CheckFiles(op.ID, st.Name); err != nil {
					t.Fatalf("%s %q: %v", op.ID, st.Name, err)
				}
			}
		}
	}
	s := mustOpen(t, fx.dir)
	for _, c := range []struct {
		op    OperatorID
		state string
	}{{opAgg, "nope"}, {OperatorID{1}, "count"}, {opSource, fx.md.Operator(opSource).States[0].Name}} {
		if err := s.CheckFiles(c.op, c.state); !errors.Is(err, ErrNoState) {
			t.Errorf("CheckFiles(%s, %q) = %v, want ErrNoState", c.op, c.state, err)
		}
	}

	kf := fx.md.Operator(opAgg).State("count").Files[1]
	file := kf.Path
	orig, err := os.ReadFile(filepath.Join(fx.dir, file))
	if err != nil {
		t.Fatal(err)
	}
	// The file holds later states after this one's blocks.
	last := kf.Blocks[len(kf.Blocks)-1]
	end := int(last.Offset + last.Length)
	for _, c := range []struct {
		name   string
		damage func(path string) error
		is     error
	}{
		{"missing", os.Remove, ErrMissingFile},
		{"one byte short", func(p string) error { return os.WriteFile(p, orig[:end-1], 0o644) }, ErrTruncated},
		{"header only", func(p string) error { return os.WriteFile(p, orig[:dataHeaderSize], 0o644) }, ErrTruncated},
		{"not a data file", func(p string) error {
			b := slices.Clone(orig)
			b[0] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, fx.dir)
			if err := c.damage(filepath.Join(dir, file)); err != nil {
				t.Fatal(err)
			}
			checkFileError(t, mustOpen(t, dir).CheckFiles(opAgg, "count"), dir, file, c.is)
		})
	}
	t.Run("a damaged block passes", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		b := slices.Clone(orig)
		b[end-20] ^= 0x10
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, dir)
		if err := s.CheckFiles(opAgg, "count"); err != nil {
			t.Fatalf("CheckFiles read a block: %v", err)
		}
		checkFileError(t, s.Verify(), dir, file, ErrChecksum)
	})
}

func mustOpen(t *testing.T, dir string) *Snapshot {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
