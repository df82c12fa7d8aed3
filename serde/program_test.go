package serde

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// Types covering every step kind, nesting, unexported fields, and the parts
// left to the reflect codec.
type (
	progFlat struct {
		B   bool
		I8  int8
		U8  uint8
		I16 int16
		U16 uint16
		I32 int32
		U32 uint32
		F32 float32
		I64 int64
		U64 uint64
		F64 float64
		I   int
		U   uint
		P   uintptr
		S   string
		Bs  []byte
		hid int64 // unexported: not encoded
		In  progInner
		Arr [3]progInner
	}
	progInner struct {
		A int16
		N string
	}
	progMixed struct {
		ID    int64
		When  time.Time
		Tags  []string
		M     map[string]int32
		P     *progInner
		Big   [300]int8 // more steps than maxSteps: one reflect step
		Inner progInner
		Last  bool
	}
	progNamed    int32
	progArrays   [4][2]uint16
	progEmbeds   struct{ progInner }
	progExpEmb   struct{ ProgExported }
	ProgExported struct {
		X, Y int32
	}
)

// randomValue fills v (settable) with random contents.
func randomValue(r *rand.Rand, v reflect.Value) {
	if v.Type() == timeType {
		if r.IntN(3) > 0 {
			v.Set(reflect.ValueOf(time.Unix(0, r.Int64N(1<<62)).UTC()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(r.Uint64())
	case reflect.Float32, reflect.Float64:
		v.SetFloat(r.NormFloat64() * 1e6)
	case reflect.String:
		b := make([]byte, r.IntN(200))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		v.SetString(string(b))
	case reflect.Slice:
		if r.IntN(4) == 0 {
			return // nil
		}
		s := reflect.MakeSlice(v.Type(), r.IntN(5), r.IntN(5)+5)
		for i := range s.Len() {
			randomValue(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			randomValue(r, v.Index(i))
		}
	case reflect.Map:
		if r.IntN(4) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			randomValue(r, k)
			randomValue(r, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if r.IntN(2) == 0 {
			p := reflect.New(v.Type().Elem())
			randomValue(r, p.Elem())
			v.Set(p)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomValue(r, v.Field(i))
			}
		}
	}
}

// checkProgram: for random values of T, the serializer (its program) writes
// the reflect codec's bytes, reads them back as the reflect codec does, and
// fails on every truncation as the reflect codec does.
func checkProgram[T any](t *testing.T, wantFlat bool) {
	t.Helper()
	s := Of[T]().(reflectSerializer[T])
	if s.c.prog.flat != wantFlat {
		t.Fatalf("%T: flat program %v, want %v", *new(T), s.c.prog.flat, wantFlat)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		var v T
		randomValue(r, reflect.ValueOf(&v).Elem())
		got := s.Append([]byte{0xAA}, v)
		want := s.c.enc([]byte{0xAA}, reflect.ValueOf(&v).Elem())
		if !bytes.Equal(got, want) {
			if !hasMap(reflect.TypeFor[T]()) {
				t.Fatalf("%T: program writes %d bytes, reflect codec %d, and they differ", v, len(got), len(want))
			}
			// Maps encode in iteration order: compare by decoding.
			var a, b T
			if _, err := s.c.dec(got[1:], reflect.ValueOf(&a).Elem()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.c.dec(want[1:], reflect.ValueOf(&b).Elem()); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("%T: program and reflect codec disagree", v)
			}
		}
		enc := got[1:]
		back, n, err := s.Read(enc)
		var ref T
		rn, rerr := s.c.dec(enc, reflect.ValueOf(&ref).Elem())
		if err != nil || rerr != nil || n != len(enc) || rn != n {
			t.Fatalf("%T: Read = %d, %v; reflect codec %d, %v; encoding of %d bytes", v, n, err, rn, rerr, len(enc))
		}
		if !reflect.DeepEqual(back, ref) {
			t.Fatalf("%T: Read gives %+v, the reflect codec %+v", v, back, ref)
		}
		for k := range min(len(enc), 48) {
			cut := k // every cut of short encodings, else a sample
			if len(enc) > 48 {
				cut = r.IntN(len(enc))
			}
			_, _, err := s.Read(enc[:cut])
			_, rerr := s.c.dec(enc[:cut], reflect.ValueOf(new(T)).Elem())
			if (err == nil) != (rerr == nil) {
				t.Fatalf("%T cut to %d of %d bytes: Read error %v, reflect codec %v", v, cut, len(enc), err, rerr)
			}
		}
	}
}

func TestProgramMatchesReflect(t *testing.T) {
	checkProgram[progFlat](t, true)
	checkProgram[progMixed](t, false)
	checkProgram[progNamed](t, true)
	checkProgram[progArrays](t, true)
	checkProgram[progEmbeds](t, true)
	checkProgram[progExpEmb](t, true)
	checkProgram[[2]progMixed](t, false)
	checkProgram[[]progInner](t, false)
	checkProgram[map[int64]progFlat](t, false)
	checkProgram[time.Time](t, false)
	checkProgram[[1000]int32](t, false)
	checkProgram[float32](t, true)
}

// TestProgramFloat32NaN: a float32 NaN of any payload encodes and decodes
// as the reflect codec does it (which quiets signaling NaNs), at the root
// and inside structs and slices alike.
func TestProgramFloat32NaN(t *testing.T) {
	type pair struct {
		A float32
		B []float32
	}
	s := Of[pair]().(reflectSerializer[pair])
	for _, bits := range []uint32{0x7f800001, 0xff800001, 0x7fc00000, 0x7f800000, 0x7fbfffff, 0x00000001, 0x3f800000} {
		f := math.Float32frombits(bits)
		v := pair{A: f, B: []float32{f}}
		got := s.Append(nil, v)
		want := s.c.enc(nil, reflect.ValueOf(&v).Elem())
		if !bytes.Equal(got, want) {
			t.Fatalf("bits %08x: program writes %x, reflect codec %x", bits, got, want)
		}
		back, _, err := s.Read(want)
		var ref pair
		_, rerr := s.c.dec(want, reflect.ValueOf(&ref).Elem())
		if err != nil || rerr != nil || math.Float32bits(back.A) != math.Float32bits(ref.A) {
			t.Fatalf("bits %08x: Read gives %08x, reflect codec %08x", bits, math.Float32bits(back.A), math.Float32bits(ref.A))
		}
		root := Of[float32]().(reflectSerializer[float32])
		if g, w := root.Append(nil, f), root.c.enc(nil, reflect.ValueOf(&f).Elem()); !bytes.Equal(g, w) {
			t.Fatalf("bits %08x at the root: program writes %x, reflect codec %x", bits, g, w)
		}
	}
}

// TestProgramZeroSizeArray: an array of zero-size elements compiles to no
// steps, at once, whatever its length.
func TestProgramZeroSizeArray(t *testing.T) {
	type z struct {
		A [1 << 40]struct{}
		B int8
	}
	s := Of[z]()
	if got := s.Append(nil, z{B: 3}); !bytes.Equal(got, []byte{3}) {
		t.Fatalf("Append = %x, want 03", got)
	}
}

// TestProgramSteps: structs and small arrays unroll; a big array is one step.
func TestProgramSteps(t *testing.T) {
	if n := len(Of[progFlat]().(reflectSerializer[progFlat]).c.prog.steps); n != 16+2+3*2 {
		t.Fatalf("progFlat compiles to %d steps, want 24", n)
	}
	if n := len(Of[[1000]int32]().(reflectSerializer[[1000]int32]).c.prog.steps); n != 1 {
		t.Fatalf("[1000]int32 compiles to %d steps, want 1", n)
	}
	if n := len(Of[[256]int32]().(reflectSerializer[[256]int32]).c.prog.steps); n != 256 {
		t.Fatalf("[256]int32 compiles to %d steps, want 256", n)
	}
	// A struct unrolls around a part it cannot: ID, When, Tags, M, P, Big
	// (one step each), Inner (two), Last.
	if n := len(Of[progMixed]().(reflectSerializer[progMixed]).c.prog.steps); n != 9 {
		t.Fatalf("progMixed compiles to %d steps, want 9", n)
	}
}

// TestProgramUnexported: unexported fields are neither written nor read.
func TestProgramUnexported(t *testing.T) {
	s := Of[progFlat]()
	back, _, err := s.Read(s.Append(nil, progFlat{hid: 5, I64: 6}))
	if err != nil || back.hid != 0 || back.I64 != 6 {
		t.Fatalf("Read = %+v, %v; want I64 6 and hid 0", back, err)
	}
}

// TestProgramNoAlloc: a flat program neither allocates to write nor, for
// types without strings or slices, to read.
func TestProgramNoAlloc(t *testing.T) {
	type agg struct {
		Count, Sum int64
		Max        float64
		Seen       [4]int32
	}
	s := Of[agg]()
	v := agg{Count: 3, Sum: 9, Max: 1.5}
	buf := s.Append(nil, v)
	if n := testing.AllocsPerRun(100, func() { buf = s.Append(buf[:0], v) }); n != 0 {
		t.Fatalf("Append allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = s.Read(buf) }); n != 0 {
		t.Fatalf("Read allocates %v times", n)
	}
}

// FuzzProgramRead: on any input the program reads what the reflect codec
// reads, or fails where it fails.
func FuzzProgramRead(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		var v progFlat
		randomValue(r, reflect.ValueOf(&v).Elem())
		f.Add(Of[progFlat]().Append(nil, v))
	}
	s := Of[progFlat]().(reflectSerializer[progFlat])
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := s.Read(b)
		var ref progFlat
		rn, rerr := s.c.dec(b, reflect.ValueOf(&ref).Elem())
		// %#v prints every NaN alike, where DeepEqual finds NaN unequal
		// to itself.
		if (err == nil) != (rerr == nil) || err == nil && (n != rn || fmt.Sprintf("%#v", v) != fmt.Sprintf("%#v", ref)) {
			t.Fatalf("Read = %d, %v; reflect codec %d, %v", n, err, rn, rerr)
		}
	})
}

// hasMap reports whether t holds a map, whose encoding follows iteration
// order.
func hasMap(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Map:
		return true
	case reflect.Slice, reflect.Array, reflect.Pointer:
		return hasMap(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasMap(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
