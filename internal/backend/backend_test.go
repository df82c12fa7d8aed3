package backend

import (
	"bytes"
	"testing"
)

// FuzzNextEncoded: decoding arbitrary bytes as a run never panics, every
// entry decoded re-encodes to an entry that decodes the same, MeasureEncoded
// measures exactly what NextEncoded consumes, and EncodedLen what
// AppendEncoded writes.
func FuzzNextEncoded(f *testing.F) {
	f.Add(AppendEncoded(AppendEncoded(nil, Entry{Hash: 1, Key: []byte("k"), Value: []byte("v")}), Entry{Hash: 2, Namespace: []byte{9}}))
	f.Add([]byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, 20))
	f.Add(AppendEncoded(nil, Entry{Hash: 3, Value: make([]byte, 200)}))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1})
	f.Fuzz(func(t *testing.T, run []byte) {
		for len(run) > 0 {
			e, rest, err := NextEncoded(run)
			if err != nil {
				if err != ErrBadRun {
					t.Fatalf("error %v, want ErrBadRun", err)
				}
				if n := MeasureEncoded(run); n != 0 {
					t.Fatalf("MeasureEncoded = %d of a run NextEncoded refuses", n)
				}
				return
			}
			if n := len(run) - len(rest); MeasureEncoded(run) != n {
				t.Fatalf("NextEncoded consumes %d bytes, MeasureEncoded %d", n, MeasureEncoded(run))
			}
			// EncodedLen is the canonical size; the run may spell a
			// length with redundant varint bytes.
			if n := len(AppendEncoded(nil, e)); EncodedLen(e) != n {
				t.Fatalf("EncodedLen = %d, AppendEncoded writes %d", EncodedLen(e), n)
			}
			if len(rest) >= len(run) {
				t.Fatal("no progress")
			}
			again, tail, err := NextEncoded(AppendEncoded(nil, e))
			if err != nil || len(tail) != 0 || again.Hash != e.Hash || !bytes.Equal(again.Key, e.Key) ||
				!bytes.Equal(again.Namespace, e.Namespace) || !bytes.Equal(again.Value, e.Value) {
				t.Fatalf("entry %+v re-encodes to %+v (%v)", e, again, err)
			}
			run = rest
		}
	})
}
