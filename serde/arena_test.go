package serde

import (
	"bytes"
	"strings"
	"testing"
)

// TestArenaReaders: ReadArena decodes exactly as Read does, values share
// chunks without overlapping, and appending to one never touches another.
func TestArenaReaders(t *testing.T) {
	var a Arena
	var enc []byte
	vals := [][]byte{[]byte("abc"), {}, bytes.Repeat([]byte{7}, arenaChunk/8+1), []byte("xyz"), bytes.Repeat([]byte{9}, 5000)}
	for _, v := range vals {
		enc = Bytes{}.Append(enc, v)
	}
	var got [][]byte
	src := enc
	for range vals {
		want, wn, werr := Bytes{}.Read(src)
		v, n, err := Bytes{}.ReadArena(src, &a)
		if err != nil || werr != nil || n != wn || !bytes.Equal(v, want) || v == nil {
			t.Fatalf("ReadArena = %q, %d, %v; Read = %q, %d, %v", v, n, err, want, wn, werr)
		}
		if cap(v) != len(v) {
			t.Fatalf("cap %d, len %d: appending would write into the arena", cap(v), len(v))
		}
		got = append(got, v)
		src = src[n:]
	}
	first := got[0]
	_ = append(first, 'Z')
	if string(got[3]) != "xyz" || string(got[0]) != "abc" {
		t.Fatalf("an append changed another value: %q %q", got[0], got[3])
	}
	got[0][0] = 'A'
	if string(got[3]) != "xyz" {
		t.Fatal("a write changed another value")
	}

	s, n, err := String{}.ReadArena(String{}.Append(nil, "hello"), &a)
	if err != nil || s != "hello" || n != 6 {
		t.Fatalf("String.ReadArena = %q, %d, %v", s, n, err)
	}
	if _, _, err := (String{}).ReadArena([]byte{5, 'a'}, &a); err != ErrShortBuffer {
		t.Fatalf("truncated string: err = %v", err)
	}
	if _, _, err := (Bytes{}).ReadArena(nil, &a); err != ErrShortBuffer {
		t.Fatalf("empty input: err = %v", err)
	}
	if e, _, _ := (String{}).ReadArena([]byte{0}, &a); e != "" {
		t.Fatal("empty string")
	}
	// Many values: each keeps its bytes.
	var ss []string
	for i := range 20_000 {
		ss = append(ss, a.String([]byte(strings.Repeat(string(rune('a'+i%26)), i%40+1))))
	}
	for i, s := range ss {
		if s != strings.Repeat(string(rune('a'+i%26)), i%40+1) {
			t.Fatalf("value %d changed: %q", i, s)
		}
	}
}

// BenchmarkReadBytes compares decoding 48-byte values with Read and with
// ReadArena.
func BenchmarkReadBytes(b *testing.B) {
	enc := Bytes{}.Append(nil, make([]byte, 48))
	b.Run("Read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = Bytes{}.Read(enc)
		}
	})
	b.Run("ReadArena", func(b *testing.B) {
		b.ReportAllocs()
		var a Arena
		for b.Loop() {
			_, _, _ = Bytes{}.ReadArena(enc, &a)
		}
	})
}
