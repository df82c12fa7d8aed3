package backend

import (
	"bytes"
	"testing"
)

// FuzzNextEncoded: decoding arbitrary bytes as a run never panics, and every
// entry decoded re-encodes to an entry that decodes the same.
func FuzzNextEncoded(f *testing.F) {
	f.Add(AppendEncoded(AppendEncoded(nil, Entry{Hash: 1, Key: []byte("k"), Value: []byte("v")}), Entry{Hash: 2, Namespace: []byte{9}}))
	f.Add([]byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, 20))
	f.Fuzz(func(t *testing.T, run []byte) {
		for len(run) > 0 {
			e, rest, err := NextEncoded(run)
			if err != nil {
				if err != ErrBadRun {
					t.Fatalf("error %v, want ErrBadRun", err)
				}
				return
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
