package stdout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/connector/stdout"
)

// count encodes itself; the "fast" field shows that AppendJSON was used.
type count struct {
	Key string // ASCII letters and digits only: needs no escaping
	N   int64
}

func (c count) AppendJSON(b []byte) []byte {
	b = append(b, `{"key":"`...)
	b = append(b, c.Key...)
	b = append(b, `","n":`...)
	b = strconv.AppendInt(b, c.N, 10)
	return append(b, `,"fast":true}`...)
}

type ptrCount struct{ N int }

func (c *ptrCount) AppendJSON(b []byte) []byte {
	return append(strconv.AppendInt(append(b, `{"ptr":`...), int64(c.N), 10), '}')
}

type plain struct {
	A string
	B []int
}

// printAll writes vs with one writer of s (subtask 0 of 1), flushes and closes
// it.
func printAll[T any](s weir.Sink[T], vs ...T) error {
	w, err := s.NewWriter(weir.SinkContext{Subtask: 0, Parallelism: 1})
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := w.Write(v); err != nil {
			return errors.Join(err, w.Close())
		}
	}
	if err := w.Flush(); err != nil {
		return errors.Join(err, w.Close())
	}
	return w.Close()
}

func TestEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		print func(w io.Writer) error
		want  string
	}{
		{"strings as is", func(w io.Writer) error {
			return printAll(stdout.Sink[string](stdout.To(w)), "hello", "", `"quoted" <html>`)
		}, "hello\n\n\"quoted\" <html>\n"},
		{"AppendJSON", func(w io.Writer) error {
			return printAll(stdout.Sink[count](stdout.To(w)), count{"a", 1}, count{"b", 2})
		}, `{"key":"a","n":1,"fast":true}` + "\n" + `{"key":"b","n":2,"fast":true}` + "\n"},
		{"AppendJSON on the pointer", func(w io.Writer) error {
			return printAll(stdout.Sink[ptrCount](stdout.To(w)), ptrCount{4})
		}, `{"ptr":4}` + "\n"},
		{"pointer records", func(w io.Writer) error {
			return printAll(stdout.Sink[*ptrCount](stdout.To(w)), &ptrCount{5})
		}, `{"ptr":5}` + "\n"},
		{"encoding/json", func(w io.Writer) error {
			return printAll(stdout.Sink[plain](stdout.To(w)), plain{"<x&y>", []int{1, 2}})
		}, `{"A":"<x&y>","B":[1,2]}` + "\n"},
		{"numbers", func(w io.Writer) error {
			return printAll(stdout.Sink[float64](stdout.To(w)), 1.5, 3)
		}, "1.5\n3\n"},
		{"interface records, per record", func(w io.Writer) error {
			return printAll[any](stdout.Sink[any](stdout.To(w)), "raw", count{"k", 3}, &ptrCount{6}, 7, nil)
		}, "raw\n" + `{"key":"k","n":3,"fast":true}` + "\n" + `{"ptr":6}` + "\n7\nnull\n"},
		{"prefix needs parallelism > 1", func(w io.Writer) error {
			return printAll(stdout.Sink[string](stdout.To(w), stdout.WithPrefix(true)), "x")
		}, "x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.print(&buf); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer whose writes a test can observe from another
// goroutine; the sink itself serializes its writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestJob(t *testing.T) {
	const n = 20_000
	in := make([]count, n)
	for i := range in {
		in[i] = count{Key: "k" + strings.Repeat("x", i%40), N: int64(i)}
	}
	prefixRE := regexp.MustCompile(`^([0-9]+)> `)
	for _, tc := range []struct {
		name   string
		p      int
		prefix bool
	}{
		{"p1", 1, false},
		{"p1 prefix", 1, true},
		{"p3", 3, false},
		{"p3 prefix", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			env := weir.NewEnvironment(weir.WithParallelism(tc.p))
			weir.To(weir.FromSource(env, memory.NewSource(in), weir.NoWatermarks[count]()),
				stdout.Sink[count](stdout.To(&buf), stdout.WithPrefix(tc.prefix)))
			if err := env.Execute(context.Background(), "print"); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if !strings.HasSuffix(out, "\n") {
				t.Fatal("output does not end in a newline")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("%d lines, want %d", len(lines), n)
			}
			var got []int64
			subtasks := map[string]bool{}
			for _, l := range lines {
				if m := prefixRE.FindStringSubmatch(l); m != nil {
					subtasks[m[1]] = true
					l = l[len(m[0]):]
				}
				var c struct {
					Key  string
					N    int64
					Fast bool
				}
				if err := json.Unmarshal([]byte(l), &c); err != nil || !c.Fast || c.Key != in[c.N].Key {
					t.Fatalf("line %q: %+v, %v", l, c, err)
				}
				got = append(got, c.N)
			}
			slices.Sort(got)
			for i, v := range got {
				if v != int64(i) {
					t.Fatalf("record %d missing or repeated", i)
				}
			}
			wantSubtasks := map[string]bool{}
			if tc.prefix && tc.p > 1 {
				for i := range tc.p {
					wantSubtasks[strconv.Itoa(i+1)] = true
				}
			}
			if fmt.Sprint(subtasks) != fmt.Sprint(wantSubtasks) {
				t.Fatalf("prefixes of subtasks %v, want %v", subtasks, wantSubtasks)
			}
		})
	}
}

func TestBuffering(t *testing.T) {
	var buf bytes.Buffer
	w, err := stdout.Sink[string](stdout.To(&buf), stdout.WithPrefix(true)).NewWriter(weir.SinkContext{Subtask: 1, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("a"); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("printed %q before the buffer filled or a flush", buf.String())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "2> a\n" {
		t.Fatalf("after Flush: %q", got)
	}
	// 64 KiB of lines are written without a flush, whole.
	line := strings.Repeat("z", 1000)
	for range 70 {
		if err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() <= len("2> a\n") {
		t.Fatal("nothing written after 70 KB of lines")
	}
	if !strings.HasSuffix(buf.String(), line+"\n") {
		t.Fatal("a write ended mid-line")
	}
	// Close prints what is left.
	if err := w.Write("last"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if !strings.HasSuffix(buf.String(), "\n2> last\n") {
		t.Fatalf("Close did not print the last line: ...%q", buf.String()[buf.Len()-20:])
	}
	if got := strings.Count(buf.String(), "\n"); got != 72 {
		t.Fatalf("%d lines, want 72", got)
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n > 0 {
		return f.n, nil // a short write
	}
	return 0, errors.New("disk on fire")
}

func TestErrors(t *testing.T) {
	if err := printAll(stdout.Sink[string](stdout.To(&failingWriter{})), "x"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failing writer: got %v", err)
	}
	if err := printAll(stdout.Sink[string](stdout.To(&failingWriter{n: 1})), "xyz"); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: got %v, want io.ErrShortWrite", err)
	}
	if _, err := stdout.Sink[string](stdout.To(nil)).NewWriter(weir.SinkContext{Parallelism: 1}); err == nil {
		t.Fatal("To(nil): got no error")
	}
	// A record encoding/json cannot encode fails, and leaves no partial line.
	var buf bytes.Buffer
	w, err := stdout.Sink[any](stdout.To(&buf), stdout.WithPrefix(true)).NewWriter(weir.SinkContext{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(func() {}); err == nil || !strings.Contains(err.Error(), "func()") || !strings.Contains(err.Error(), "AppendJSON") {
		t.Fatalf("encoding a func: got %v, want an error naming the type and the remedy", err)
	}
	if err := w.Write("ok"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "1> ok\n" {
		t.Fatalf("got %q", got)
	}
}

func BenchmarkWrite(b *testing.B) {
	in := make([]count, 1024)
	for i := range in {
		in[i] = count{Key: "auction" + strconv.Itoa(i), N: int64(i)}
	}
	w, err := stdout.Sink[count](stdout.To(io.Discard), stdout.WithPrefix(true)).NewWriter(weir.SinkContext{Subtask: 2, Parallelism: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := w.Write(in[i%len(in)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
