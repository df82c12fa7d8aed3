package file

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

func TestSplitRoundTrip(t *testing.T) {
	for _, sp := range []split{
		{path: "a", offset: 0},
		{path: "/var/log/app.log", offset: 1},
		{path: "dir/ünï cödé.txt", offset: 1 << 40},
		{path: "x", offset: math.MaxInt64},
		{path: strings.Repeat("p", 300), offset: 127},
		{path: "bytes\x00\xff", offset: 128},
	} {
		b := appendSplit(nil, sp)
		got, err := decodeSplit(b)
		if err != nil {
			t.Fatalf("decodeSplit(appendSplit(%+v)): %v", sp, err)
		}
		if got != sp {
			t.Fatalf("round trip of %+v gave %+v", sp, got)
		}
	}
}

// TestSplitFormat freezes version 1 of the split encoding: splits are stored
// in checkpoints, so a release must keep reading what earlier ones wrote.
func TestSplitFormat(t *testing.T) {
	for _, tc := range []struct {
		sp   split
		want []byte
	}{
		{split{path: "a.txt", offset: 0}, []byte{1, 5, 'a', '.', 't', 'x', 't', 0}},
		{split{path: "b", offset: 300}, []byte{1, 1, 'b', 0xac, 0x02}},
	} {
		if got := appendSplit(nil, tc.sp); !bytes.Equal(got, tc.want) {
			t.Errorf("appendSplit(%+v) = %v, want %v", tc.sp, got, tc.want)
		}
		if got, err := decodeSplit(tc.want); err != nil || got != tc.sp {
			t.Errorf("decodeSplit(%v) = %+v, %v; want %+v", tc.want, got, err, tc.sp)
		}
	}
}

func TestDecodeSplitRejects(t *testing.T) {
	maxUvarint := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "empty"},
		{"version 0", []byte{0, 1, 'a', 0}, "version 0"},
		{"version 2", []byte{2, 1, 'a', 0}, "version 2"},
		{"no path length", []byte{1}, "path length"},
		{"empty path", []byte{1, 0, 0}, "empty path"},
		{"path too long", []byte{1, 9, 'a'}, "exceeds"},
		{"huge path length", append([]byte{1}, maxUvarint...), "exceeds"},
		{"no offset", []byte{1, 1, 'a'}, "offset"},
		{"offset beyond int64", append([]byte{1, 1, 'a'}, maxUvarint...), "out of range"},
		{"trailing bytes", []byte{1, 1, 'a', 0, 7, 7}, "2 trailing bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSplit(tc.b)
			if !errors.Is(err, ErrMalformedSplit) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want ErrMalformedSplit saying %q", err, tc.msg)
			}
		})
	}
}

func FuzzDecodeSplit(f *testing.F) {
	f.Add(appendSplit(nil, split{path: "a.txt", offset: 12345}))
	f.Add([]byte{1, 1, 'a', 0x80, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := decodeSplit(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedSplit) {
				t.Fatalf("error %v does not wrap ErrMalformedSplit", err)
			}
			return
		}
		if sp.path == "" || sp.offset < 0 {
			t.Fatalf("decoded an invalid split %+v", sp)
		}
		again, err := decodeSplit(appendSplit(nil, sp))
		if err != nil || again != sp {
			t.Fatalf("re-encoding %+v decodes to %+v, %v", sp, again, err)
		}
	})
}

type lineSink struct{ lines []string }

func (s *lineSink) Emit(v *string, _ int64) { s.lines = append(s.lines, *v) }

// TestResumeEveryPosition snapshots a reader after every batch, for batch
// sizes down to one line, and checks that a reader restored from each
// snapshot reads exactly the remaining lines.
func TestResumeEveryPosition(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("L", readBufferSize*2+17)
	files := []string{
		"a\r\nb\n\nc\r\n" + long + "\r\nd",
		"",
		long,
		"e\nf\n",
	}
	var paths []string
	for i, c := range files {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	want := []string{"a", "b", "", "c", long, "d", long, "e", "f"}
	src := Lines(paths...)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	newReader := func(splits [][]byte, maxLines, maxBytes int) *lineReader {
		r := &lineReader{maxLines: maxLines, maxBytes: maxBytes}
		if err := r.AddSplits(splits); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, limits := range [][2]int{{1, 1 << 30}, {2, 1 << 30}, {3, 1 << 30}, {1000, 1}, {1000, 1000}} {
		// Read batch by batch, snapshotting before every batch.
		r := newReader(splits, limits[0], limits[1])
		var got []string
		var snaps [][][]byte
		var at []int // lines read when the snapshot was taken
		for {
			snap, err := r.SnapshotSplits()
			if err != nil {
				t.Fatal(err)
			}
			snaps, at = append(snaps, snap), append(at, len(got))
			out := &lineSink{}
			st, err := r.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.lines...)
			if st.Done {
				break
			}
		}
		_ = r.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("limits %v: read %q", limits, got)
		}
		for i, snap := range snaps {
			r := newReader(snap, defaultBatchLines, defaultBatchBytes)
			var rest []string
			for {
				out := &lineSink{}
				st, err := r.Read(out)
				if err != nil {
					t.Fatal(err)
				}
				rest = append(rest, out.lines...)
				if st.Done {
					break
				}
			}
			_ = r.Close()
			if !slices.Equal(rest, want[at[i]:]) {
				t.Fatalf("limits %v: resuming after %d lines read %d lines, want %d", limits, at[i], len(rest), len(want)-at[i])
			}
		}
	}
}

// TestReaderKeepsOneFileOpen checks that a reader opens its files one at a
// time and closes each at its end.
func TestReaderKeepsOneFileOpen(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	splits, err := Lines(paths...).Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	r := &lineReader{maxLines: 1, maxBytes: defaultBatchBytes}
	if err := r.AddSplits(splits); err != nil {
		t.Fatal(err)
	}
	var out lineSink
	for i := 0; ; i++ {
		st, err := r.Read(&out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			break
		}
		if r.f != nil && r.f.Name() != paths[r.cur] {
			t.Fatalf("read %d: open file %s, reading split %d", i, r.f.Name(), r.cur)
		}
	}
	if r.f != nil {
		t.Fatal("a finished reader still has a file open")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var _ weir.SourceReader[string] = r
}
