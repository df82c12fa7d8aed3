package file_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/memory"
)

// fastBid encodes itself; the "fast" field shows that AppendJSON was used.
type fastBid struct {
	Auction, Bidder, Price int64
	Channel                string // ASCII letters and digits only: needs no escaping
}

func (b fastBid) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"auction":`...)
	dst = strconv.AppendInt(dst, b.Auction, 10)
	dst = append(dst, `,"bidder":`...)
	dst = strconv.AppendInt(dst, b.Bidder, 10)
	dst = append(dst, `,"price":`...)
	dst = strconv.AppendInt(dst, b.Price, 10)
	dst = append(dst, `,"channel":"`...)
	dst = append(dst, b.Channel...)
	return append(dst, `","fast":true}`...)
}

// plainBid has no AppendJSON: encoding/json encodes it.
type plainBid struct {
	Auction, Bidder, Price int64
	Channel                string
}

// decodedBid is what either encoding decodes to.
type decodedBid struct {
	Auction, Bidder, Price int64
	Channel                string
	Fast                   bool
}

func bids(n int) []fastBid {
	out := make([]fastBid, n)
	for i := range out {
		out[i] = fastBid{Auction: int64(i % 97), Bidder: int64(i), Price: int64(i * 13 % 1000), Channel: "ch" + strings.Repeat("x", i%50)}
	}
	return out
}

// readJSONLines decodes every line of the file at p, failing on a line that
// is not one JSON value.
func readJSONLines(t *testing.T, p string) []decodedBid {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", p)
	}
	var out []decodedBid
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var d decodedBid
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil || dec.More() {
			t.Fatalf("line %d of %s is not one JSON object: %q (%v)", len(out)+1, p, sc.Bytes(), err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func cmpBid(a, b decodedBid) int {
	if c := a.Bidder - b.Bidder; c != 0 {
		return int(c)
	}
	return strings.Compare(a.Channel, b.Channel)
}

func TestJSONLinesJob(t *testing.T) {
	in := bids(10_000)
	want := make([]decodedBid, len(in))
	for i, b := range in {
		want[i] = decodedBid{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel, Fast: true}
	}
	run := func(t *testing.T, out string, p int, build func(weir.Stream[fastBid])) []decodedBid {
		env := weir.NewEnvironment(weir.WithParallelism(p))
		build(weir.FromSource(env, memory.NewSource(in), weir.NoWatermarks[fastBid]()))
		if err := env.Execute(context.Background(), "json-lines"); err != nil {
			t.Fatal(err)
		}
		got := readJSONLines(t, out)
		slices.SortFunc(got, cmpBid)
		return got
	}
	for _, tc := range []struct {
		name string
		p    int
		opts []file.SinkOption
		fast bool
	}{
		{"AppendJSON p4", 4, nil, true},
		{"AppendJSON p4 small buffers", 4, []file.SinkOption{file.WithFlushThreshold(300)}, true},
		{"AppendJSON p1", 1, nil, true},
		{"encoding/json p4", 4, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.jsonl")
			got := run(t, out, tc.p, func(s weir.Stream[fastBid]) {
				if tc.fast {
					weir.To(s, file.JSONLines[fastBid](out, tc.opts...))
					return
				}
				plain := weir.Map(s, func(b fastBid) plainBid { return plainBid(b) })
				weir.To(plain, file.JSONLines[plainBid](out, tc.opts...))
			})
			w := want
			if !tc.fast {
				w = slices.Clone(want)
				for i := range w {
					w[i].Fast = false
				}
			}
			if !slices.Equal(got, w) {
				t.Fatalf("%s: %d records, want the %d records written (as a multiset)", out, len(got), len(w))
			}
		})
	}
}

// ptrBid has AppendJSON on its pointer.
type ptrBid struct{ N int }

func (b *ptrBid) AppendJSON(dst []byte) []byte {
	return append(strconv.AppendInt(append(dst, `{"ptr":`...), int64(b.N), 10), '}')
}

type html struct{ S string }

func TestJSONLinesEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, path string) error
		want  string
	}{
		{"value receiver", func(t *testing.T, p string) error {
			return writeAll(t, file.JSONLines[fastBid](p), fastBid{Auction: 1, Bidder: 2, Price: 3, Channel: "c"})
		}, `{"auction":1,"bidder":2,"price":3,"channel":"c","fast":true}` + "\n"},
		{"pointer receiver, value records", func(t *testing.T, p string) error {
			return writeAll(t, file.JSONLines[ptrBid](p), ptrBid{1}, ptrBid{2})
		}, "{\"ptr\":1}\n{\"ptr\":2}\n"},
		{"pointer records", func(t *testing.T, p string) error {
			return writeAll(t, file.JSONLines[*ptrBid](p), &ptrBid{7})
		}, "{\"ptr\":7}\n"},
		{"interface records, per record", func(t *testing.T, p string) error {
			return writeAll[any](t, file.JSONLines[any](p), fastBid{Channel: "x"}, &ptrBid{3}, map[string]int{"a": 1}, "s", nil)
		}, `{"auction":0,"bidder":0,"price":0,"channel":"x","fast":true}` + "\n" + `{"ptr":3}` + "\n" + `{"a":1}` + "\n\"s\"\nnull\n"},
		{"encoding/json without HTML escapes", func(t *testing.T, p string) error {
			return writeAll(t, file.JSONLines[html](p), html{"<a&b>"})
		}, `{"S":"<a&b>"}` + "\n"},
		{"strings", func(t *testing.T, p string) error {
			return writeAll(t, file.JSONLines[string](p), "a\nb", "")
		}, `"a\nb"` + "\n" + `""` + "\n"},
		{"nothing", func(t *testing.T, p string) error {
			return writeAll[int](t, file.JSONLines[int](p))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out.jsonl")
			if err := tc.write(t, p); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// writeAll writes vs with one writer, flushes and closes it.
func writeAll[T any](t *testing.T, s weir.Sink[T], vs ...T) error {
	t.Helper()
	w, err := s.NewWriter(weir.SinkContext{Subtask: 0, Parallelism: 1})
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := w.Write(v); err != nil {
			_ = w.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func TestJSONLinesWriters(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(p, []byte("old contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := file.JSONLines[int](p, file.WithFlushThreshold(1<<20))
	ctx := weir.SinkContext{Parallelism: 2}
	w0, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Subtask = 1
	w1, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	readBack := func() string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readBack(); got != "" {
		t.Fatalf("the first writer must truncate the file; it holds %q", got)
	}
	for i := range 3 {
		if err := w0.Write(i); err != nil {
			t.Fatal(err)
		}
		if err := w1.Write(10 + i); err != nil {
			t.Fatal(err)
		}
	}
	if got := readBack(); got != "" {
		t.Fatalf("records must stay buffered until Flush; the file holds %q", got)
	}
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w0.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := readBack(); got != "10\n11\n12\n0\n1\n2\n" {
		t.Fatalf("after both flushes the file holds %q", got)
	}
	if err := w0.Write(99); err != nil { // never flushed: dropped
		t.Fatal(err)
	}
	if err := w0.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w0.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	// w1 still writes to the file after w0 has closed.
	if err := w1.Write(13); err != nil {
		t.Fatal(err)
	}
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readBack(); got != "10\n11\n12\n0\n1\n2\n13\n" {
		t.Fatalf("the file holds %q", got)
	}
	// The file was closed with the last writer: a new writer starts afresh.
	if err := writeAll(t, s, 42); err != nil {
		t.Fatal(err)
	}
	if got := readBack(); got != "42\n" {
		t.Fatalf("reusing the sink: the file holds %q", got)
	}
}

// TestJSONLinesThreshold checks that a writer appends whole lines as soon as
// its buffer reaches the threshold.
func TestJSONLinesThreshold(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.jsonl")
	w, err := file.JSONLines[string](p, file.WithFlushThreshold(10)).NewWriter(weir.SinkContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, v := range []string{"abc", "def", "g"} { // "abc"\n is 6 bytes, 12 with "def"
		if err := w.Write(v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "\"abc\"\n\"def\"\n" {
		t.Fatalf("the file holds %q, want the first two lines", got)
	}
}

func TestJSONLinesErrors(t *testing.T) {
	dir := t.TempDir()
	missingDir := filepath.Join(dir, "no-such-dir", "out.jsonl")
	for _, tc := range []struct {
		name string
		sink weir.Sink[int]
		want []string
	}{
		{"missing directory", file.JSONLines[int](missingDir), []string{missingDir}},
		{"path is a directory", file.JSONLines[int](dir), []string{dir}},
		{"empty path", file.JSONLines[int](""), []string{"empty path"}},
		{"bad threshold", file.JSONLines[int](filepath.Join(dir, "x"), file.WithFlushThreshold(0)), []string{"WithFlushThreshold(0)"}},
		{"bad mode", file.JSONLines[int](filepath.Join(dir, "x"), file.WithFileMode(os.ModeDir|0o644)), []string{"WithFileMode"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sink.NewWriter(weir.SinkContext{Parallelism: 1})
			if err == nil {
				t.Fatal("NewWriter: got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("NewWriter: got %q, want it to mention %q", err, w)
				}
			}
		})
	}

	// Through a job.
	env := weir.NewEnvironment(weir.WithParallelism(2))
	weir.To(weir.FromSource(env, memory.NewSource([]int{1, 2, 3}), weir.NoWatermarks[int]()), file.JSONLines[int](missingDir))
	if err := env.Execute(context.Background(), "unwritable"); err == nil || !strings.Contains(err.Error(), missingDir) {
		t.Fatalf("Execute: got %v, want an error naming %s", err, missingDir)
	}

	// A record encoding/json cannot encode.
	p := filepath.Join(dir, "chan.jsonl")
	err := writeAll(t, file.JSONLines[chan int](p), make(chan int))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chan int") {
		t.Fatalf("encoding a channel: got %v, want an error naming %s and the type", err, p)
	}
}

// TestJSONLinesFailedJob checks that a failed job leaves a file of whole
// lines, possibly empty.
func TestJSONLinesFailedJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      int
		failAt int
	}{
		{"fails before any record", 1, 0},
		{"fails at record 5000", 4, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.jsonl")
			env := weir.NewEnvironment(weir.WithParallelism(tc.p))
			src := weir.FromSource(env, memory.NewSource(bids(10_000)), weir.NoWatermarks[fastBid]())
			failing := weir.FlatMap(src, func(b fastBid, out weir.Collector[fastBid]) {
				if b.Bidder == int64(tc.failAt) {
					panic("boom")
				}
				out.Collect(b)
			})
			weir.To(failing, file.JSONLines[fastBid](out, file.WithFlushThreshold(512)))
			err := env.Execute(context.Background(), "failing")
			if err == nil || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("got %v, want the job to fail with boom", err)
			}
			got := readJSONLines(t, out)
			if tc.failAt == 0 && len(got) != 0 {
				t.Fatalf("%d records written before the first one failed", len(got))
			}
			for _, d := range got {
				if d.Bidder == int64(tc.failAt) {
					t.Fatalf("the failing record was written")
				}
			}
		})
	}
}

func BenchmarkJSONLinesWrite(b *testing.B) {
	in := bids(1024)
	b.Run("AppendJSON", func(b *testing.B) {
		benchWrite(b, file.JSONLines[fastBid], func(i int) fastBid { return in[i%len(in)] })
	})
	b.Run("encoding-json", func(b *testing.B) {
		benchWrite(b, file.JSONLines[plainBid], func(i int) plainBid { return plainBid(in[i%len(in)]) })
	})
}

// benchWrite writes records with one writer of a sink writing to a temporary
// file; one op is one record.
func benchWrite[T any](b *testing.B, sink func(string, ...file.SinkOption) *file.JSONLinesSink[T], gen func(int) T) {
	w, err := sink(filepath.Join(b.TempDir(), "out.jsonl")).NewWriter(weir.SinkContext{Parallelism: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bids(512)[511].AppendJSON(nil)) + 1)) // a typical line
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := w.Write(gen(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
