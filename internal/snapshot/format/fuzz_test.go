package format

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir/internal/backend"
)

// fixChecksum makes b's trailing checksum (and, for _metadata, its body
// length) right, so that the fuzzer reaches the decoders behind them.
func fixMetadata(b []byte) []byte {
	if len(b) < metaMinSize {
		return b
	}
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint64(b[10:], uint64(len(b)-metaMinSize))
	binary.LittleEndian.PutUint64(b[len(b)-8:], xxhash.Sum64(b[:len(b)-8]))
	return b
}

func FuzzDecodeMetadata(f *testing.F) {
	fx := writeFixture(f, f.TempDir(), &Options{BlockSize: 4096})
	f.Add(EncodeMetadata(fx.md), false)
	f.Add(EncodeMetadata(&Metadata{Kind: Checkpoint}), false)
	f.Add(EncodeMetadata(&Metadata{Kind: Savepoint, Operators: []Operator{{Parallelism: 2, States: []State{
		{Name: "l", Kind: ListUnion, Lists: []OperatorList{{Elements: [][]byte{{1}, nil}}, {}}},
		{Name: "k", Kind: KeyedMap, KeySchema: []byte{1}, Files: []KeyedFile{{Path: "a.dat",
			Blocks: []Block{{FirstHash: 1, LastHash: 9, Offset: 16, Length: 30, Entries: 1, Checksum: 5}}}}},
	}}}}), true)
	f.Add([]byte("WEIRSNAP\x01\x00"), true)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			b = fixMetadata(b)
		}
		md, err := DecodeMetadata(b)
		if err != nil {
			if _, ok := err.(*FileError); !ok {
				t.Fatalf("error %v is a %T, not a *FileError", err, err)
			}
			return
		}
		// What decodes re-encodes to the same bytes and is valid.
		if err := md.Validate(); err != nil {
			t.Fatalf("decoded metadata is invalid: %v", err)
		}
		if again := EncodeMetadata(md); string(again) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// fuzzBlock is the input of FuzzReadBlock: a block and its index entry,
// optionally with the checksums made right.
func FuzzReadBlock(f *testing.F) {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, 40} {
		for _, compress := range []bool{false, true} {
			var raw []byte
			for i := range n {
				v := make([]byte, rng.IntN(30))
				raw = appendEntry(raw, backend.Entry{Hash: uint64(i * 1000), Key: []byte("key"), Namespace: []byte{byte(i)}, Value: v})
			}
			var e *zstd.Encoder
			if compress {
				e = enc
			}
			blk, _, _ := appendBlock(nil, raw, n, e, nil)
			f.Add(blk, uint64(0), uint64((n-1)*1000), uint64(n), false)
			f.Add(blk, uint64(0), uint64((n-1)*1000), uint64(n), true)
		}
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(maxCompressedRaw), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, first, last, entries uint64, fix bool) {
		var idx Block
		if len(b) >= blockOverhead {
			if fix {
				b = append([]byte(nil), b...)
				binary.LittleEndian.PutUint64(b[len(b)-8:], xxhash.Sum64(b[:len(b)-8]))
			}
			idx.Checksum = binary.LittleEndian.Uint64(b[len(b)-8:])
			idx.Entries = entries
			if fix {
				idx.Entries = uint64(binary.LittleEndian.Uint32(b[5:]))
			}
		}
		idx.FirstHash, idx.LastHash, idx.Length = first, last, uint64(len(b))
		payload, err := decodeBlock(b, &idx, dec, nil)
		if err != nil {
			if _, ok := err.(*blockError); !ok {
				t.Fatalf("error %v is a %T, not a *blockError", err, err)
			}
			return
		}
		if len(payload) > max(len(b), maxCompressedRaw) {
			t.Fatalf("payload of %d bytes from a block of %d", len(payload), len(b))
		}
		// scanBlock, the restore's fast path, agrees with the entry-by-entry
		// checks of a cursor, over the whole range and over a part of it.
		for _, r := range [][2]uint64{{0, ^uint64(0)}, {first + (last-first)/3, first + (last-first)/3*2}} {
			want, wantOK := scanRef(payload, &idx, r[0], r[1])
			sc, err := scanBlock(payload, &idx, 0, r[0], r[1], nil)
			if (err == nil) != wantOK {
				t.Fatalf("range %x: scanBlock error %v, the entry-by-entry checks accept: %v", r, err, wantOK)
			}
			if err != nil {
				continue
			}
			if sc.n != want.n || sc.past != want.past || sc.n > 0 && string(payload[sc.start:sc.end]) != string(want.run) {
				t.Fatalf("range %x: scanBlock finds %d entries (past %v), the entry-by-entry walk %d (past %v)", r, sc.n, sc.past, want.n, want.past)
			}
			if !slices.Equal(sc.offs, want.offs) || sc.n > 0 && sc.distinct != want.distinct {
				t.Fatalf("range %x: scanBlock finds offsets %v (distinct %v), the entry-by-entry walk %v (distinct %v)", r, sc.offs, sc.distinct, want.offs, want.distinct)
			}
		}
		// The entries re-encode to the payload.
		it := entryIter{p: payload, left: idx.Entries}
		var re []byte
		for {
			e, ok, err := it.next()
			if err != nil {
				return
			}
			if !ok {
				break
			}
			if string(it.last) != string(appendEntry(nil, e)) {
				t.Fatalf("the raw bytes of an entry differ from its encoding")
			}
			re = appendEntry(re, e)
		}
		if string(re) != string(payload) {
			t.Fatalf("entries re-encode to other bytes")
		}
	})
}

// scanRef is scanBlock done as a cursor does it, entry by entry: the run of
// entries in [lo, hi], their number, whether an entry beyond hi ended the
// walk, and whether the checks passed.
func scanRef(payload []byte, b *Block, lo, hi uint64) (ref blockRef, ok bool) {
	it := entryIter{p: payload, left: b.Entries}
	var prev uint64
	start, end := 0, 0
	ref.distinct = true
	for i := 0; ; i++ {
		begin := len(payload) - len(it.p)
		e, more, err := it.next()
		if err != nil {
			return ref, false
		}
		if !more {
			break
		}
		if i == 0 && e.Hash != b.FirstHash || e.Hash < prev || e.Hash > b.LastHash {
			return ref, false
		}
		off := len(payload) - len(it.p)
		switch {
		case e.Hash < lo:
			start = off
		case e.Hash <= hi:
			if ref.n > 0 && e.Hash == prev {
				ref.distinct = false
			}
			ref.offs = append(ref.offs, uint32(begin-start))
			end = off
			ref.n++
		default:
			ref.run, ref.past = payload[start:max(start, end)], true
			return ref, true
		}
		prev = e.Hash
	}
	if prev != b.LastHash {
		return ref, false
	}
	ref.run = payload[start:max(start, end)]
	return ref, true
}

// blockRef is what scanRef finds in a block: what scanBlock must find.
type blockRef struct {
	run      []byte
	n        uint64
	past     bool
	offs     []uint32
	distinct bool
}
