package serde

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

type inner struct {
	A int32
	B []string
}

type sample struct {
	ID      int64
	Name    string
	Score   float64
	OK      bool
	Tags    map[string]int
	Inner   inner
	Ptr     *inner
	Blob    []byte
	At      time.Time
	Small   uint8
	Neg     int16
	private int // not serialized
}

func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	s := Of[T]()
	b := s.Append([]byte{0xff}, v)
	got, n, err := s.Read(b[1:])
	if err != nil {
		t.Fatalf("Read(%v): %v", v, err)
	}
	if n != len(b)-1 {
		t.Fatalf("Read(%v) used %d bytes of %d", v, n, len(b)-1)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: got %#v, want %#v", got, v)
	}
	// Every strict prefix must fail cleanly, never panic.
	for i := 0; i < len(b)-1; i++ {
		if _, _, err := s.Read(b[1 : 1+i]); err == nil && i < n {
			// Some prefixes can be valid encodings of a shorter value only for
			// types with no length information; our types all carry it.
			t.Fatalf("Read of %d-byte prefix of %d succeeded", i, n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, int64(-42))
	roundTrip(t, 7)
	roundTrip(t, "héllo")
	roundTrip(t, []byte("raw"))
	roundTrip(t, []int64{1, 2, 3})
	roundTrip(t, [3]uint16{1, 2, 65535})
	roundTrip(t, sample{
		ID: 1, Name: "n", Score: 2.5, OK: true, Tags: map[string]int{"a": 1, "b": 2},
		Inner: inner{A: -3, B: []string{"x", ""}}, Ptr: &inner{A: 9}, Blob: []byte{1, 2},
		At: time.Date(2015, 7, 15, 0, 0, 0, 5, time.UTC), Small: 200, Neg: -300,
	})
	roundTrip(t, sample{Blob: []byte{}})
	// Unexported fields are not serialized.
	got, _, err := Of[sample]().Read(Of[sample]().Append(nil, sample{private: 5}))
	if err != nil || got.private != 0 {
		t.Fatalf("unexported field round-tripped: %v %v", got.private, err)
	}
}

func TestInt64IsBigEndianFixedWidth(t *testing.T) {
	got := Int64{}.Append(nil, 1000)
	if want := []byte{0, 0, 0, 0, 0, 0, 3, 0xe8}; !bytes.Equal(got, want) {
		t.Fatalf("Int64 encoding of 1000 = %x, want %x", got, want)
	}
	// The reflective path must agree with the fast path for named types.
	type userID int64
	if got2 := Of[userID]().Append(nil, 1000); !bytes.Equal(got, got2) {
		t.Fatalf("named int64 encodes as %x, int64 as %x", got2, got)
	}
}

func TestUnsupported(t *testing.T) {
	if _, err := Lookup[chan int](); err == nil {
		t.Fatal("Lookup[chan int] succeeded")
	}
	type withFunc struct{ F func() }
	_, err := Lookup[withFunc]()
	if err == nil {
		t.Fatal("Lookup of a struct with a func field succeeded")
	}
}

func FuzzReadSample(f *testing.F) {
	s := Of[sample]()
	f.Add(s.Append(nil, sample{ID: 1, Tags: map[string]int{"a": 1}, Ptr: &inner{}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := s.Read(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		again := s.Append(nil, v)
		if _, _, err := s.Read(again); err != nil {
			t.Fatalf("re-read of re-encoded value failed: %v", err)
		}
	})
}

// benchRecord is a struct state value of the kind aggregates hold.
type benchRecord struct {
	Count int64
	Sum   float64
	Name  string
	Tags  []string
}

// BenchmarkReflectStruct measures the struct serializer (Of) per value of
// a struct that holds a slice of strings, which its program hands to the
// reflect codec: it must not allocate to encode, and allocates to decode
// only what the value holds (the string and the slice).
func BenchmarkReflectStruct(b *testing.B) {
	benchSerializer(b, benchRecord{Count: 7, Sum: 2.5, Name: "auction", Tags: []string{"a", "b"}})
}

// BenchmarkFlatStruct measures a struct of numbers and a string, which its
// program encodes without reflection.
func BenchmarkFlatStruct(b *testing.B) {
	type agg struct {
		Count, Sum int64
		Max        float64
		Name       string
		Seen       [4]int32
	}
	benchSerializer(b, agg{Count: 7, Sum: 9, Max: 2.5, Name: "auction"})
}

// benchSerializer measures Of[T]'s Append and Read of v.
func benchSerializer[T any](b *testing.B, v T) {
	s := Of[T]()
	buf := s.Append(nil, v)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = s.Append(buf[:0], v)
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReflectNoAlloc: encoding a struct allocates nothing.
func TestReflectNoAlloc(t *testing.T) {
	s := Of[benchRecord]()
	v := benchRecord{Count: 7, Sum: 2.5, Name: "auction", Tags: []string{"a", "b"}}
	buf := s.Append(nil, v)
	if n := testing.AllocsPerRun(100, func() { buf = s.Append(buf[:0], v) }); n != 0 {
		t.Fatalf("Append allocates %v times per value", n)
	}
	got, _, err := s.Read(buf)
	if err != nil || got.Name != v.Name || len(got.Tags) != 2 || got.Tags[1] != "b" || got.Count != 7 {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, v)
	}
}

// TestEmptyStruct: struct{} (the namespace outside windows) encodes as no
// bytes and reads back from none.
func TestEmptyStruct(t *testing.T) {
	s := Of[struct{}]()
	if got := s.Append([]byte{1}, struct{}{}); !bytes.Equal(got, []byte{1}) {
		t.Fatalf("Append = %x, want 01", got)
	}
	if _, n, err := s.Read([]byte{9}); n != 0 || err != nil {
		t.Fatalf("Read consumed %d bytes, %v", n, err)
	}
	if n := testing.AllocsPerRun(100, func() { s.Append(nil, struct{}{}) }); n != 0 {
		t.Fatalf("Append allocates %v times", n)
	}
}
