package format

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/backend"
)

// runEntries returns n entries in (hash, key, namespace) order: groups of
// one hash with several keys and namespaces, and values from empty to a few
// hundred bytes, so that lengths take one- and two-byte varints.
func runEntries(rng *rand.Rand, n int) []backend.Entry {
	var es []backend.Entry
	h := uint64(0)
	for len(es) < n {
		h += 1 + rng.Uint64N(1<<40)
		for k := range 1 + rng.IntN(3) {
			for ns := range 1 + rng.IntN(2) {
				v := make([]byte, rng.IntN(300))
				for i := range v {
					v[i] = byte(rng.Uint32())
				}
				es = append(es, backend.Entry{Hash: h, Key: []byte{byte(k), 'k'}, Namespace: []byte{byte(ns)}, Value: v})
			}
		}
	}
	return es[:n]
}

// writeEntries writes es as state "s" of one data file in a new directory,
// with add, and returns the file's bytes and its index.
func writeEntries(t *testing.T, opts *Options, es []backend.Entry, add func(kw *KeyedWriter, es []backend.Entry) error) ([]byte, KeyedFile) {
	t.Helper()
	w, err := CreateIn(filepath.Join(t.TempDir(), "sp"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Abort() }()
	kw, err := w.Keyed(opAgg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.StartState("s"); err != nil {
		t.Fatal(err)
	}
	if err := add(kw, es); err != nil {
		t.Fatal(err)
	}
	files, err := kw.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(w.Dir(), filepath.FromSlash(files["s"].Path)))
	if err != nil {
		t.Fatal(err)
	}
	return data, files["s"]
}

func addEach(kw *KeyedWriter, es []backend.Entry) error {
	for _, e := range es {
		if err := kw.Add(e); err != nil {
			return err
		}
	}
	return nil
}

// encodeSpans encodes es into one buffer and returns the buffer and the
// spans that locate the entries in es's order. Half the time the layout is
// shuffled, with gaps between entries; otherwise it is es's order, as a
// backend lays a sorted shard out, with a gap before one entry in eight,
// so that runs of entries lying one after another form and break.
func encodeSpans(rng *rand.Rand, es []backend.Entry) ([]byte, []backend.Span) {
	order, gaps := rng.Perm(len(es)), 1
	if rng.IntN(2) == 0 {
		for i := range order {
			order[i] = i
		}
		gaps = 8
	}
	spans := make([]backend.Span, len(es))
	var buf []byte
	for _, i := range order {
		if rng.IntN(gaps) == 0 {
			buf = append(buf, make([]byte, rng.IntN(3))...) // a gap
		}
		off := len(buf)
		buf = backend.AppendEncoded(buf, es[i])
		spans[i] = backend.Span{Off: off, Len: len(buf) - off}
	}
	return buf, spans
}

// addEncoded adds es in batches of random lengths, some entries one by one
// with Add.
func addEncoded(rng *rand.Rand) func(kw *KeyedWriter, es []backend.Entry) error {
	return func(kw *KeyedWriter, es []backend.Entry) error {
		for len(es) > 0 {
			k := min(len(es), 1+rng.IntN(200))
			if rng.IntN(5) == 0 {
				if err := kw.Add(es[0]); err != nil {
					return err
				}
				es = es[1:]
				continue
			}
			buf, spans := encodeSpans(rng, es[:k])
			if err := kw.AddEncoded(buf, spans); err != nil {
				return err
			}
			es = es[k:]
		}
		return nil
	}
}

// TestAddEncodedMatchesAdd: a file written from encoded entries is byte for
// byte the file written entry by entry, raw and compressed, for block sizes
// that hold less than an entry up to many.
func TestAddEncodedMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	es := runEntries(rng, 3000)
	for _, c := range []Compression{NoCompression, ZstdCompression} {
		for _, bs := range []int{256, 1000, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("compression=%d/block=%d", c, bs), func(t *testing.T) {
				opts := &Options{BlockSize: bs, Compression: c}
				want, wantIdx := writeEntries(t, opts, es, addEach)
				got, gotIdx := writeEntries(t, opts, es, addEncoded(rng))
				if !bytes.Equal(got, want) {
					t.Fatalf("the file written from encoded entries differs (%d bytes, want %d)", len(got), len(want))
				}
				gotIdx.Path, wantIdx.Path = "", ""
				if !reflect.DeepEqual(gotIdx, wantIdx) {
					t.Fatalf("index %+v, want %+v", gotIdx.Blocks[:1], wantIdx.Blocks[:1])
				}
			})
		}
	}
}

// TestAddEncodedErrors: spans that do not hold one whole canonical entry
// each, or entries out of order, fail the writer as Add would, naming the
// state, and leave no file.
func TestAddEncodedErrors(t *testing.T) {
	e := func(h uint64, key string) backend.Entry {
		return backend.Entry{Hash: h, Key: []byte(key), Value: []byte("v")}
	}
	// enc encodes es back to back, one span each.
	enc := func(es ...backend.Entry) ([]byte, []backend.Span) {
		var buf []byte
		var spans []backend.Span
		for _, x := range es {
			off := len(buf)
			buf = backend.AppendEncoded(buf, x)
			spans = append(spans, backend.Span{Off: off, Len: len(buf) - off})
		}
		return buf, spans
	}
	two, _ := enc(e(1, "a"), e(2, "a"))
	one, oneSpan := enc(e(5, "a"))
	hashDesc, hashDescSpans := enc(e(5, "a"), e(4, "a"))
	keyDesc, keyDescSpans := enc(e(5, "b"), e(5, "a"))
	nonCanonical := append(append([]byte(nil), one[:8]...), 0x81, 0x00, 'a', 0, 1, 'v') // key length 1 in two bytes
	for _, tc := range []struct {
		name   string
		before []backend.Entry // added one by one first
		buf    []byte
		spans  []backend.Span
		want   string
	}{
		{"hash order in a batch", nil, hashDesc, hashDescSpans, "added after hash"},
		{"hash order across calls", []backend.Entry{e(7, "a")}, one, oneSpan, "added after hash"},
		{"key order in a batch", nil, keyDesc, keyDescSpans, "added after hash"},
		{"key order across calls", []backend.Entry{e(5, "b")}, one, oneSpan, "added after hash"},
		{"truncated", nil, one, []backend.Span{{Off: 0, Len: len(one) - 1}}, "not one whole entry"},
		{"two entries in a span", nil, two, []backend.Span{{Off: 0, Len: len(two)}}, "not one whole entry"},
		{"past the buffer", nil, one, []backend.Span{{Off: 1, Len: len(one)}}, "not one whole entry"},
		{"negative offset", nil, one, []backend.Span{{Off: -1, Len: len(one)}}, "not one whole entry"},
		{"empty span", nil, one, []backend.Span{{Off: 0, Len: 0}}, "not one whole entry"},
		{"non-canonical length", nil, nonCanonical, []backend.Span{{Off: 0, Len: len(nonCanonical)}}, "not one whole entry"},
	} {
		for _, c := range []Compression{NoCompression, ZstdCompression} {
			t.Run(fmt.Sprintf("%s/compression=%d", tc.name, c), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "sp")
				w, err := CreateIn(dir, &Options{BlockSize: 256, Compression: c})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = w.Abort() }()
				kw, _ := w.Keyed(opAgg, 0)
				_ = kw.StartState("s")
				if err := addEach(kw, tc.before); err != nil {
					t.Fatal(err)
				}
				err = kw.AddEncoded(tc.buf, tc.spans)
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) || !bytes.Contains([]byte(err.Error()), []byte(`"s"`)) {
					t.Fatalf("AddEncoded = %v, want an error about state \"s\" saying %q", err, tc.want)
				}
				if _, cerr := kw.Close(); cerr == nil {
					t.Fatal("Close after a failed AddEncoded succeeded")
				}
				left, _ := filepath.Glob(filepath.Join(dir, "*"))
				left = slices.DeleteFunc(left, func(p string) bool { return filepath.Base(p) == "_metadata" })
				if len(left) != 0 {
					t.Fatalf("files left: %v", left)
				}
			})
		}
	}
	// Add reports the same disorder the same way.
	w, _ := CreateIn(filepath.Join(t.TempDir(), "sp"), nil)
	defer func() { _ = w.Abort() }()
	kw, _ := w.Keyed(opAgg, 0)
	_ = kw.StartState("s")
	_ = kw.Add(e(5, "b"))
	if err := kw.Add(e(5, "a")); err == nil || !bytes.Contains([]byte(err.Error()), []byte("added after hash")) {
		t.Fatalf("Add = %v", err)
	}
}

// FuzzAddEncoded: AddEncoded accepts exactly the spans that each hold one
// whole entry in canonical encoding, in an order Add accepts, and then
// writes the file Add writes. The spans cut buf into consecutive pieces
// whose lengths are the bytes of cuts.
func FuzzAddEncoded(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 7} {
		var buf, cuts []byte
		for _, e := range runEntries(rng, n) {
			off := len(buf)
			buf = backend.AppendEncoded(buf, e)
			if len(buf)-off < 256 {
				cuts = append(cuts, byte(len(buf)-off))
			}
		}
		f.Add(buf, cuts)
		f.Add(buf[:len(buf)-1], cuts)
	}
	f.Fuzz(func(t *testing.T, buf, cuts []byte) {
		var spans []backend.Span
		off := 0
		for _, c := range cuts {
			spans = append(spans, backend.Span{Off: off, Len: int(c)})
			off += int(c)
		}
		// What the spans hold, read entry by entry.
		var es []backend.Entry
		wellFormed := true
		for _, sp := range spans {
			if sp.Len == 0 || sp.Off+sp.Len > len(buf) {
				wellFormed = false
				break
			}
			p := buf[sp.Off : sp.Off+sp.Len]
			e, rest, err := backend.NextEncoded(p)
			if err != nil || len(rest) != 0 || !bytes.Equal(backend.AppendEncoded(nil, e), p) {
				wellFormed = false
				break
			}
			es = append(es, e)
		}
		opts := &Options{BlockSize: 256}
		w, err := CreateIn(filepath.Join(t.TempDir(), "sp"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Abort() }()
		kw, _ := w.Keyed(opAgg, 0)
		_ = kw.StartState("s")
		encErr := kw.AddEncoded(buf, spans)
		if !wellFormed {
			if encErr == nil {
				t.Fatal("AddEncoded accepted spans that do not each hold one whole canonical entry")
			}
			return
		}
		w2, err := CreateIn(filepath.Join(t.TempDir(), "sp2"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w2.Abort() }()
		kw2, _ := w2.Keyed(opAgg, 0)
		_ = kw2.StartState("s")
		addErr := addEach(kw2, es)
		if (encErr == nil) != (addErr == nil) {
			t.Fatalf("AddEncoded: %v; Add one by one: %v", encErr, addErr)
		}
		if encErr != nil || len(es) == 0 {
			return
		}
		f1, err1 := kw.Close()
		f2, err2 := kw2.Close()
		if err1 != nil || err2 != nil {
			t.Fatalf("Close: %v, %v", err1, err2)
		}
		d1, _ := os.ReadFile(filepath.Join(w.Dir(), filepath.FromSlash(f1["s"].Path)))
		d2, _ := os.ReadFile(filepath.Join(w2.Dir(), filepath.FromSlash(f2["s"].Path)))
		if !bytes.Equal(d1, d2) {
			t.Fatal("AddEncoded and Add wrote different files")
		}
	})
}
