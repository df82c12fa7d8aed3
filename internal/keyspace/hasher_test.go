package keyspace

import (
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/weirstream/weir/serde"
)

type (
	userID    string
	auctionID int64
	flag      bool
	level     int8
	port      uint16
	shard     int32
	tick      uint
	addr      uintptr
)

type pair struct {
	A int32
	B string
}

// Inner is embedded in wide.
type Inner struct {
	Tag  [2]string
	Hits uint32
}

// wide exercises every op of the walker: runs of bytes merged across fields
// and arrays, padding, blank fields, nested arrays of structs, strings
// longer than the walker's buffer, and platform-sized integers. (Blank
// fields: TestHasherIgnoresBlankFields.)
type wide struct {
	Inner
	B1, B2  uint8
	Raw     [5]byte
	I8      int8
	Flags   [3]bool
	Levels  [2]level
	Small   int16
	U       uint
	P       uintptr
	Pairs   [2]pair
	Grid    [2][2]int64
	Long    string
	Empty   struct{}
	None    [0]int32
	Last    int
	Trailer [3]uint8
}

func checkHasher[K comparable](t *testing.T, keys ...K) {
	t.Helper()
	h, err := HasherFor[K]()
	if err != nil {
		t.Fatal(err)
	}
	s := serde.Of[K]()
	for _, k := range keys {
		if got, want := h(k), Hash(s.Append(nil, k)); got != want {
			t.Fatalf("hash(%#v) = %x, want Hash(serde encoding) = %x", k, got, want)
		}
	}
}

// checkRandom compares the hasher with the encoding on random values.
func checkRandom[K comparable](t *testing.T) {
	t.Helper()
	h, err := HasherFor[K]()
	if err != nil {
		t.Fatal(err)
	}
	s := serde.Of[K]()
	rng := rand.New(rand.NewSource(1))
	for range 500 {
		v, ok := quick.Value(reflect.TypeFor[K](), rng)
		if !ok {
			t.Fatalf("cannot generate a %v", reflect.TypeFor[K]())
		}
		k := v.Interface().(K)
		if got, want := h(k), Hash(s.Append(nil, k)); got != want {
			t.Fatalf("hash(%#v) = %x, want Hash(serde encoding) = %x", k, got, want)
		}
	}
}

func TestHasherMatchesCanonicalEncoding(t *testing.T) {
	checkHasher(t, true, false)
	checkHasher(t, flag(true), flag(false))
	checkHasher(t, int8(0), int8(-1), int8(math.MinInt8), int8(math.MaxInt8))
	checkHasher(t, level(-3))
	checkHasher(t, uint8(0), uint8(7), uint8(math.MaxUint8))
	checkHasher(t, int16(3), int16(-1), int16(math.MinInt16), int16(math.MaxInt16))
	checkHasher(t, uint16(0), uint16(math.MaxUint16))
	checkHasher(t, port(8080))
	checkHasher(t, int32(-5), int32(math.MinInt32), int32(math.MaxInt32))
	checkHasher(t, shard(12))
	checkHasher(t, uint32(0), uint32(1), uint32(math.MaxUint32))
	checkHasher(t, int64(0), int64(-1), int64(1000), int64(math.MinInt64))
	checkHasher(t, auctionID(1000))
	checkHasher(t, uint64(99), uint64(math.MaxUint64))
	checkHasher(t, 0, 5, -7, math.MinInt, math.MaxInt)
	checkHasher(t, uint(0), uint(math.MaxUint))
	checkHasher(t, tick(9))
	checkHasher(t, uintptr(0), uintptr(0xdeadbeef), ^uintptr(0))
	checkHasher(t, addr(42))
	checkHasher(t, "", "joha", "a longer key with spaces", strings.Repeat("long", 100))
	checkHasher(t, userID("nina"))

	checkHasher(t, pair{1, "x"}, pair{}, pair{-1, strings.Repeat("y", 200)})
	checkHasher(t, [3]pair{{1, "a"}, {2, "b"}})
	checkHasher(t, [16]byte{1, 2, 3, 255}, [16]byte{})
	checkHasher(t, [4]bool{true, false, true})
	checkHasher(t, [2]string{"", strings.Repeat("z", 70)})
	checkHasher(t, struct{}{})
	checkHasher(t, wide{}, wide{
		Inner: Inner{Tag: [2]string{"t", "u"}, Hits: 7},
		B1:    1, B2: 2, Raw: [5]byte{3, 4, 5, 6, 7}, I8: -8,
		Flags: [3]bool{true, false, true}, Levels: [2]level{-1, 1},
		Small: -300, U: math.MaxUint, P: 77,
		Pairs: [2]pair{{1, "one"}, {2, strings.Repeat("two", 30)}},
		Grid:  [2][2]int64{{1, -2}, {3, math.MinInt64}},
		Long:  strings.Repeat("0123456789", 13), Last: math.MinInt,
		Trailer: [3]uint8{9, 9, 9},
	})
	checkRandom[pair](t)
	checkRandom[wide](t)
	checkRandom[[3][2]pair](t)
}

// TestHasherIgnoresBlankFields: == ignores blank fields, and so must the
// hash.
func TestHasherIgnoresBlankFields(t *testing.T) {
	type blank struct {
		A int32
		_ float64
		B string
	}
	h, err := HasherFor[blank]()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := HasherFor[pair]()
	if h(blank{A: 1, B: "b"}) != p(pair{1, "b"}) {
		t.Fatal("a blank field changes the hash")
	}
	// A blank byte between two byte fields splits the run.
	type bytes struct {
		A uint8
		_ uint8
		B [2]uint8
		_ bool
		C int8
	}
	checkHasher(t, bytes{A: 1, B: [2]uint8{2, 3}, C: -4})
	checkHasher(t, blank{A: -1, B: "x"})
}

func TestHasherRejectsUnstableKeys(t *testing.T) {
	type price struct {
		Item  string
		Price float64
	}
	type leg struct{ At [2]float32 }
	type trip struct {
		ID   int64
		Legs [3]leg
	}
	type hidden struct {
		ID int64
		//lint:ignore U1000 the unexported field is what is under test
		secret string
	}
	type deep struct {
		Outer struct{ In [2]hidden }
	}
	type ref struct{ P *int }
	type any1 struct{ V any }
	type stamped struct {
		ID int64
		At time.Time
	}
	cases := []struct {
		name    string
		hasher  func() error
		path    string
		mention string
	}{
		{"float64", func() error { _, err := HasherFor[float64](); return err }, "", "integer or string"},
		{"float32", func() error { _, err := HasherFor[float32](); return err }, "", "integer or string"},
		{"complex", func() error { _, err := HasherFor[complex128](); return err }, "", "integer or string"},
		{"float field", func() error { _, err := HasherFor[price](); return err }, "Price", "integer or string"},
		{"float in array of structs", func() error { _, err := HasherFor[trip](); return err }, "Legs[i].At[i]", "integer or string"},
		{"float array", func() error { _, err := HasherFor[[2]float64](); return err }, "[i]", "integer or string"},
		{"unexported field", func() error { _, err := HasherFor[hidden](); return err }, "secret", "unexported"},
		{"unexported field deep", func() error { _, err := HasherFor[deep](); return err }, "Outer.In[i].secret", "unexported"},
		{"pointer", func() error { _, err := HasherFor[*int](); return err }, "", "identity"},
		{"pointer field", func() error { _, err := HasherFor[ref](); return err }, "P", "identity"},
		{"interface", func() error { _, err := HasherFor[any](); return err }, "", "concrete type"},
		{"interface field", func() error { _, err := HasherFor[any1](); return err }, "V", "concrete type"},
		{"channel", func() error { _, err := HasherFor[chan int](); return err }, "", "cannot be serialized"},
		{"time", func() error { _, err := HasherFor[time.Time](); return err }, "", "UnixNano"},
		{"time field", func() error { _, err := HasherFor[stamped](); return err }, "At", "UnixNano"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.hasher()
			var kte *KeyTypeError
			if !errors.As(err, &kte) {
				t.Fatalf("HasherFor = %v, want a *KeyTypeError", err)
			}
			if kte.Path != c.path {
				t.Errorf("path %q, want %q", kte.Path, c.path)
			}
			msg := err.Error()
			if !strings.Contains(msg, kte.Type.String()) || !strings.Contains(msg, c.path) || !strings.Contains(msg, c.mention) {
				t.Errorf("error %q does not name the type, the path %q and %q", msg, c.path, c.mention)
			}
		})
	}
}

func TestHasherAllocs(t *testing.T) {
	hashers := map[string]func(){}
	add := func(name string, f func()) { hashers[name] = f }
	hb, _ := HasherFor[bool]()
	add("bool", func() { _ = hb(true) })
	hi8, _ := HasherFor[int8]()
	add("int8", func() { _ = hi8(-3) })
	hu8, _ := HasherFor[uint8]()
	add("uint8", func() { _ = hu8(3) })
	hi16, _ := HasherFor[int16]()
	add("int16", func() { _ = hi16(-300) })
	hu16, _ := HasherFor[uint16]()
	add("uint16", func() { _ = hu16(300) })
	hi32, _ := HasherFor[int32]()
	add("int32", func() { _ = hi32(-70000) })
	hu32, _ := HasherFor[uint32]()
	add("uint32", func() { _ = hu32(70000) })
	hi64, _ := HasherFor[int64]()
	add("int64", func() { _ = hi64(12345) })
	hu64, _ := HasherFor[uint64]()
	add("uint64", func() { _ = hu64(12345) })
	hi, _ := HasherFor[int]()
	add("int", func() { _ = hi(-1) })
	hu, _ := HasherFor[uint]()
	add("uint", func() { _ = hu(1) })
	hp, _ := HasherFor[uintptr]()
	add("uintptr", func() { _ = hp(1) })
	hs, _ := HasherFor[string]()
	key := "some user"
	add("string", func() { _ = hs(key) })
	hn, _ := HasherFor[userID]()
	add("named string", func() { _ = hn(userID(key)) })
	hpair, err := HasherFor[pair]()
	if err != nil {
		t.Fatal(err)
	}
	pk := pair{A: 7, B: key}
	add("struct{A int32; B string}", func() { _ = hpair(pk) })
	hwide, err := HasherFor[wide]()
	if err != nil {
		t.Fatal(err)
	}
	wk := wide{Long: strings.Repeat("x", 300), Pairs: [2]pair{{1, key}, {2, key}}}
	add("wide struct", func() { _ = hwide(wk) })
	for name, f := range hashers {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("hashing a %s allocates %v times", name, n)
		}
	}
}

// FuzzHasherMatchesEncoding checks the struct walker against the encoding.
func FuzzHasherMatchesEncoding(f *testing.F) {
	type key struct {
		A  int64
		B  string
		C  uint8
		D  bool
		E  [2]string
		F  int16
		Gs [2]pair
	}
	f.Add(int64(1), "b", uint8(2), true, "e", int16(-1), "g")
	f.Add(int64(-1), strings.Repeat("b", 100), uint8(0), false, "", int16(0), strings.Repeat("g", 64))
	h, err := HasherFor[key]()
	if err != nil {
		f.Fatal(err)
	}
	s := serde.Of[key]()
	f.Fuzz(func(t *testing.T, a int64, b string, c uint8, d bool, e string, x int16, g string) {
		k := key{A: a, B: b, C: c, D: d, E: [2]string{e, b}, F: x, Gs: [2]pair{{int32(a), g}, {int32(x), e}}}
		if got, want := h(k), Hash(s.Append(nil, k)); got != want {
			t.Fatalf("hash(%#v) = %x, want %x", k, got, want)
		}
	})
}

func BenchmarkHashString(b *testing.B) {
	h, _ := HasherFor[string]()
	for b.Loop() {
		_ = h("user-12345")
	}
}

func BenchmarkHashInt32(b *testing.B) {
	h, _ := HasherFor[int32]()
	for b.Loop() {
		_ = h(12345)
	}
}

func BenchmarkHashStruct(b *testing.B) {
	h, _ := HasherFor[pair]()
	k := pair{A: 7, B: "user-12345"}
	b.ReportAllocs()
	for b.Loop() {
		_ = h(k)
	}
}
