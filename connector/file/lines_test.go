package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/memory"
)

// writeFile writes content to a new file in dir and returns its path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// numbered returns n lines "<prefix>-<i>" each ending in eol.
func numbered(prefix string, n int, eol string) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "%s-%d%s", prefix, i, eol)
	}
	return sb.String()
}

// collect is a SourceOutput that keeps what it is given.
type collect struct {
	t     testing.TB
	lines []string
}

func (c *collect) Emit(p *string, ts int64) {
	v := *p
	if ts != weir.NoTimestamp {
		c.t.Errorf("line %q emitted with timestamp %d, want NoTimestamp", v, ts)
	}
	c.lines = append(c.lines, v)
}

// newReader returns a reader of the given splits.
func newReader(t testing.TB, src *file.LineSource, splits [][]byte) weir.SourceReader[string] {
	t.Helper()
	r, err := src.NewReader(weir.SourceContext{Subtask: 0, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if err := r.AddSplits(splits); err != nil {
		t.Fatal(err)
	}
	return r
}

// readAll reads r until it is done.
func readAll(t testing.TB, r weir.SourceReader[string]) []string {
	t.Helper()
	out := &collect{t: t}
	for range 1_000_000 {
		st, err := r.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			return out.lines
		}
	}
	t.Fatal("reader never reported Done")
	return nil
}

// readFiles reads paths with one reader of all their splits.
func readFiles(t testing.TB, paths ...string) []string {
	t.Helper()
	src := file.Lines(paths...)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, newReader(t, src, splits))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestLinesJob(t *testing.T) {
	dir := t.TempDir()
	contents := []string{
		numbered("a", 2500, "\n"),
		numbered("b", 10, "\r\n"),
		"",
		numbered("c", 1, "\n") + "c-last-without-newline",
		numbered("d", 1001, "\n"),
		"\n\n\n", // three empty lines
	}
	var paths []string
	var want []string
	for i, c := range contents {
		paths = append(paths, writeFile(t, dir, fmt.Sprintf("f%d.txt", i), c))
		want = append(want, readFiles(t, paths[i])...)
	}
	if len(want) != 2500+10+0+2+1001+3 {
		t.Fatalf("reading the files one by one gave %d lines", len(want))
	}
	for _, tc := range []struct {
		name  string
		p     int
		paths []string
		want  []string
	}{
		{"p1", 1, paths, want},
		{"p3", 3, paths, want},
		{"more subtasks than files", 4, paths[:2], want[:2510]},
		{"no files", 2, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := weir.NewEnvironment(weir.WithParallelism(tc.p))
			sink := memory.NewSink[string]()
			weir.To(weir.FromSource(env, file.Lines(tc.paths...), weir.NoWatermarks[string]()), sink)
			if err := env.Execute(context.Background(), "lines"); err != nil {
				t.Fatal(err)
			}
			got := sink.Results()
			if !slices.Equal(sorted(got), sorted(tc.want)) {
				t.Fatalf("got %d lines, want %d (as a multiset)", len(got), len(tc.want))
			}
		})
	}
}

func TestLinesTerminators(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"empty file", "", nil},
		{"LF", "a\nb\n", []string{"a", "b"}},
		{"CRLF", "a\r\nb\r\n", []string{"a", "b"}},
		{"mixed", "a\r\nb\nc\r\n", []string{"a", "b", "c"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"CRLF then no final newline", "a\r\nb", []string{"a", "b"}},
		{"only a newline", "\n", []string{""}},
		{"empty lines", "\n\r\n\nx", []string{"", "", "", "x"}},
		{"lone CR is content", "a\rb\n", []string{"a\rb"}},
		{"CR at the end without LF is content", "a\r", []string{"a\r"}},
		{"single line, no newline", "only", []string{"only"}},
		{"unicode", "ünïcödé\n日本\n", []string{"ünïcödé", "日本"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "f.txt", tc.content)
			if got := readFiles(t, p); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLinesLongLines(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 200<<10/16) // 200 KiB
	huge := strings.Repeat("x", 3<<20)                     // 3 MiB, more than a batch's bytes
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"between short lines", "a\n" + long + "\nb\n", []string{"a", long, "b"}},
		{"CRLF", long + "\r\n" + long + "\r\n", []string{long, long}},
		{"last, without newline", "a\n" + long, []string{"a", long}},
		{"alone", long, []string{long}},
		{"huge", huge + "\n" + long + "\n" + huge, []string{huge, long, huge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "f.txt", tc.content)
			got := readFiles(t, p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d lines, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("line %d: got %d bytes, want %d", i, len(got[i]), len(tc.want[i]))
				}
			}
		})
	}
}

func TestLinesReadBatches(t *testing.T) {
	p := writeFile(t, t.TempDir(), "f.txt", numbered("x", 2500, "\n"))
	src := file.Lines(p)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, splits)
	var sizes []int
	var dones []bool
	for {
		out := &collect{t: t}
		st, err := r.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		sizes, dones = append(sizes, len(out.lines)), append(dones, st.Done)
		if st.Done {
			break
		}
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) || !slices.Equal(dones, []bool{false, false, true}) {
		t.Fatalf("batches of %v lines, done %v; want [1000 1000 500], [false false true]", sizes, dones)
	}
}

func TestLinesSplits(t *testing.T) {
	dir := t.TempDir()
	paths := []string{writeFile(t, dir, "a", "a\n"), writeFile(t, dir, "b", "b\n"), writeFile(t, dir, "c", "c\n")}
	src := file.Lines(paths...)
	for _, p := range []int{1, 2, 3, 8} {
		splits, err := src.Splits(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(splits) != len(paths) {
			t.Fatalf("parallelism %d: %d splits, want one per file (%d)", p, len(splits), len(paths))
		}
		for i, sp := range splits {
			if got := readAll(t, newReader(t, src, [][]byte{sp})); !slices.Equal(got, []string{filepath.Base(paths[i])}) {
				t.Fatalf("split %d reads %q, want the lines of %s", i, got, paths[i])
			}
		}
	}
	if !src.Bounded() {
		t.Fatal("a line source must be bounded")
	}
}

// TestLinesResume reads part of two files, snapshots, and resumes from the
// snapshot with a new reader.
func TestLinesResume(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.txt", numbered("a", 1500, "\r\n"))
	b := writeFile(t, dir, "b.txt", numbered("b", 700, "\n")+"b-last")
	want := readFiles(t, a, b)

	src := file.Lines(a, b)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	for reads := 0; reads <= 4; reads++ {
		r := newReader(t, src, splits)
		out := &collect{t: t}
		for range reads {
			if _, err := r.Read(out); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := r.SnapshotSplits()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		rest := readAll(t, newReader(t, file.Lines(), snap))
		if got := append(out.lines, rest...); !slices.Equal(got, want) {
			t.Fatalf("after %d reads (%d lines) and a resume: %d lines, want %d in order", reads, len(out.lines), len(got), len(want))
		}
		// The snapshot of a finished reader resumes to nothing.
		if reads == 4 {
			if len(rest) != 0 {
				t.Fatalf("resuming a finished reader read %d lines", len(rest))
			}
		}
	}
}

func TestLinesMissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-file.txt")
	if _, err := file.Lines(missing).Splits(1); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Splits: got %v, want an error naming %s", err, missing)
	}

	// A job fails when it starts.
	env := weir.NewEnvironment()
	weir.To(weir.FromSource(env, file.Lines(missing), weir.NoWatermarks[string]()), memory.NewSink[string]())
	if err := env.Execute(context.Background(), "missing"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Execute: got %v, want an error naming %s", err, missing)
	}

	// A file removed after Splits fails the read.
	p := writeFile(t, dir, "gone.txt", "x\n")
	src := file.Lines(p)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, splits)
	if _, err := r.Read(&collect{t: t}); err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read: got %v, want a not-exist error naming %s", err, p)
	}

	if _, err := file.Lines(dir).Splits(1); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("Splits of a directory: got %v, want an error saying it is a directory", err)
	}
	if _, err := file.Lines("").Splits(1); err == nil {
		t.Fatal("Splits of an empty path: got no error")
	}
}

// TestLinesShrunkFile resumes from a snapshot of a file that has since been
// truncated below the offset.
func TestLinesShrunkFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "f.txt", numbered("x", 1500, "\n"))
	src := file.Lines(p)
	splits, err := src.Splits(1)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, splits)
	if _, err := r.Read(&collect{t: t}); err != nil {
		t.Fatal(err)
	}
	snap, err := r.SnapshotSplits()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = newReader(t, src, snap).Read(&collect{t: t})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("got %v, want an error naming %s and saying it changed", err, p)
	}
}

func TestLinesMalformedSplit(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{},
		{2, 1, 'a', 0},          // unknown version
		{1},                     // no path length
		{1, 0, 0},               // empty path
		{1, 5, 'a', 'b'},        // path longer than the bytes
		{1, 1, 'a'},             // no offset
		{1, 1, 'a', 0x80},       // truncated offset
		{1, 1, 'a', 0, 0},       // trailing byte
		[]byte("/etc/passwd:3"), // not a split at all
	} {
		r, err := file.Lines().NewReader(weir.SourceContext{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = r.AddSplits([][]byte{b})
		if !errors.Is(err, file.ErrMalformedSplit) {
			t.Errorf("AddSplits(%q): got %v, want ErrMalformedSplit", b, err)
		}
	}
}

func BenchmarkLineReader(b *testing.B) {
	// 100,000 lines of 20 to 140 bytes.
	var sb strings.Builder
	const nlines = 100_000
	for i := range nlines {
		fmt.Fprintf(&sb, "%08d %s\n", i, strings.Repeat("x", 10+i%120))
	}
	p := writeFile(b, b.TempDir(), "bench.txt", sb.String())
	src := file.Lines(p)
	splits, err := src.Splits(1)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len() / nlines)) // per line
	b.ReportAllocs()
	var out discard
	var r weir.SourceReader[string]
	for out.n < b.N {
		if r == nil {
			if r, err = src.NewReader(weir.SourceContext{Parallelism: 1}); err != nil {
				b.Fatal(err)
			}
			if err := r.AddSplits(splits); err != nil {
				b.Fatal(err)
			}
		}
		st, err := r.Read(&out)
		if err != nil {
			b.Fatal(err)
		}
		if st.Done {
			_ = r.Close()
			r = nil
		}
	}
	if r != nil {
		_ = r.Close()
	}
}

// discard counts lines.
type discard struct {
	n     int
	bytes int
}

func (d *discard) Emit(v *string, _ int64) { d.n++; d.bytes += len(*v) }
