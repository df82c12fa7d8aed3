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

// addRuns adds es in runs of random lengths, some entries one by one.
func addRuns(rng *rand.Rand) func(kw *KeyedWriter, es []backend.Entry) error {
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
			var run []byte
			for _, e := range es[:k] {
				run = backend.AppendEncoded(run, e)
			}
			if err := kw.AddRun(run, k); err != nil {
				return err
			}
			es = es[k:]
		}
		return nil
	}
}

// TestAddRunMatchesAdd: a file written in runs is byte for byte the file
// written entry by entry, raw and compressed, for block sizes that hold
// less than an entry up to many.
func TestAddRunMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	es := runEntries(rng, 3000)
	for _, c := range []Compression{NoCompression, ZstdCompression} {
		for _, bs := range []int{256, 1000, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("compression=%d/block=%d", c, bs), func(t *testing.T) {
				opts := &Options{BlockSize: bs, Compression: c}
				want, wantIdx := writeEntries(t, opts, es, addEach)
				got, gotIdx := writeEntries(t, opts, es, addRuns(rng))
				if !bytes.Equal(got, want) {
					t.Fatalf("the file written in runs differs (%d bytes, want %d)", len(got), len(want))
				}
				gotIdx.Path, wantIdx.Path = "", ""
				if !reflect.DeepEqual(gotIdx, wantIdx) {
					t.Fatalf("index %+v, want %+v", gotIdx.Blocks[:1], wantIdx.Blocks[:1])
				}
			})
		}
	}
}

// TestAddRunErrors: a run that is malformed, miscounted or out of order
// fails the writer as Add would, naming the state, and leaves no file.
func TestAddRunErrors(t *testing.T) {
	enc := func(es ...backend.Entry) []byte {
		var run []byte
		for _, e := range es {
			run = backend.AppendEncoded(run, e)
		}
		return run
	}
	e := func(h uint64, key string) backend.Entry {
		return backend.Entry{Hash: h, Key: []byte(key), Value: []byte("v")}
	}
	nonCanonical := append(enc(e(9, "x"))[:8:8], 0x81, 0x00, 'x', 0, 1, 'v') // key length 1 in two bytes
	for _, tc := range []struct {
		name   string
		before []backend.Entry // added one by one first
		run    []byte
		n      int
		want   string
	}{
		{"hash order in the run", nil, enc(e(5, "a"), e(4, "a")), 2, "added after hash"},
		{"hash order across calls", []backend.Entry{e(7, "a")}, enc(e(6, "a")), 1, "added after hash"},
		{"key order in the run", nil, enc(e(5, "b"), e(5, "a")), 2, "added after hash"},
		{"key order across calls", []backend.Entry{e(5, "b")}, enc(e(5, "a")), 1, "added after hash"},
		{"truncated", nil, enc(e(5, "a"))[:12], 1, "malformed run"},
		{"non-canonical length", nil, nonCanonical, 1, "malformed run"},
		{"more than announced", nil, enc(e(1, "a"), e(2, "a")), 1, "announced as 1 entries holds 2"},
		{"fewer than announced", nil, enc(e(1, "a")), 3, "announced as 3 entries holds 1"},
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
				err = kw.AddRun(tc.run, tc.n)
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) || !bytes.Contains([]byte(err.Error()), []byte(`"s"`)) {
					t.Fatalf("AddRun = %v, want an error about state \"s\" saying %q", err, tc.want)
				}
				if _, cerr := kw.Close(); cerr == nil {
					t.Fatal("Close after a failed AddRun succeeded")
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

// FuzzAddRun: AddRun accepts exactly the runs that hold n whole entries in
// canonical encoding, in an order Add accepts, and then writes the file Add
// writes.
func FuzzAddRun(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 7} {
		var run []byte
		for _, e := range runEntries(rng, n) {
			run = backend.AppendEncoded(run, e)
		}
		f.Add(run, n)
		f.Add(run[:len(run)-1], n)
	}
	f.Fuzz(func(t *testing.T, run []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		// What the run holds, read entry by entry.
		var es []backend.Entry
		wellFormed := true
		for rest := run; len(rest) > 0 || len(es) < n; {
			e, r, err := backend.NextEncoded(rest)
			if err != nil || len(es) == n {
				wellFormed = false
				break
			}
			if canon := backend.AppendEncoded(nil, e); !bytes.Equal(canon, rest[:len(rest)-len(r)]) {
				wellFormed = false // a length in a longer varint than needed
				break
			}
			es = append(es, e)
			rest = r
		}
		opts := &Options{BlockSize: 256}
		w, err := CreateIn(filepath.Join(t.TempDir(), "sp"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Abort() }()
		kw, _ := w.Keyed(opAgg, 0)
		_ = kw.StartState("s")
		runErr := kw.AddRun(run, n)
		if !wellFormed {
			if runErr == nil {
				t.Fatalf("AddRun accepted a run that does not hold %d whole canonical entries", n)
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
		if (runErr == nil) != (addErr == nil) {
			t.Fatalf("AddRun: %v; Add one by one: %v", runErr, addErr)
		}
		if runErr != nil || n == 0 {
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
			t.Fatal("AddRun and Add wrote different files")
		}
	})
}
