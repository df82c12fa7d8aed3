package format

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cespare/xxhash/v2"
)

// Version is the newest _metadata format version; this build writes it and
// reads every version from 1 to Version.
const Version uint16 = 1

// metadataMagic opens every _metadata file.
const metadataMagic = "WEIRSNAP"

const (
	metaHeaderSize = len(metadataMagic) + 2 + 8 // magic, version, body length
	metaMinSize    = metaHeaderSize + 8         // and the checksum
)

// EncodeMetadata returns the _metadata encoding of md in format Version. It
// does not validate md; Writer.Finish does (see Metadata.Validate).
func EncodeMetadata(md *Metadata) []byte {
	body := make([]byte, 0, 256)
	body = appendString(body, md.EngineVersion)
	body = appendString(body, md.JobName)
	body = append(body, md.JobID[:]...)
	body = binary.AppendUvarint(body, md.SnapshotID)
	body = append(body, byte(md.Kind))
	body = binary.LittleEndian.AppendUint64(body, uint64(md.Timestamp))
	body = binary.AppendUvarint(body, uint64(len(md.Operators)))
	for i := range md.Operators {
		op := &md.Operators[i]
		body = append(body, op.ID[:]...)
		body = appendString(body, op.UID)
		body = appendString(body, op.Name)
		body = binary.AppendUvarint(body, uint64(op.Parallelism))
		body = binary.AppendUvarint(body, uint64(len(op.States)))
		for j := range op.States {
			st := &op.States[j]
			body = appendString(body, st.Name)
			body = append(body, byte(st.Kind))
			body = appendBytes(body, st.KeySchema)
			body = appendBytes(body, st.NamespaceSchema)
			body = appendBytes(body, st.ValueSchema)
			switch {
			case st.Kind.IsKeyed():
				body = binary.AppendUvarint(body, uint64(len(st.Files)))
				for _, f := range st.Files {
					body = appendString(body, f.Path)
					body = binary.AppendUvarint(body, uint64(len(f.Blocks)))
					for _, b := range f.Blocks {
						body = binary.LittleEndian.AppendUint64(body, b.FirstHash)
						body = binary.LittleEndian.AppendUint64(body, b.LastHash)
						body = binary.AppendUvarint(body, b.Offset)
						body = binary.AppendUvarint(body, b.Length)
						body = binary.AppendUvarint(body, b.Entries)
						body = binary.LittleEndian.AppendUint64(body, b.Checksum)
					}
				}
			case st.Kind.IsOperatorList():
				body = binary.AppendUvarint(body, uint64(len(st.Lists)))
				for _, l := range st.Lists {
					body = binary.AppendUvarint(body, uint64(len(l.Elements)))
					for _, e := range l.Elements {
						body = appendBytes(body, e)
					}
				}
			}
		}
	}

	out := make([]byte, 0, metaMinSize+len(body))
	out = append(out, metadataMagic...)
	out = binary.LittleEndian.AppendUint16(out, Version)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(body)))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint64(out, xxhash.Sum64(out))
}

// DecodeMetadata decodes a _metadata file. Errors are *FileError values
// naming "_metadata" (without a directory). Byte slices in the result (schemas
// and list elements) alias b, which must not be modified afterwards.
// DecodeMetadata never panics, and allocates in proportion to len(b).
func DecodeMetadata(b []byte) (*Metadata, error) {
	fail := func(off int, err error, format string, args ...any) (*Metadata, error) {
		return nil, &FileError{File: MetadataFile, Offset: int64(off), Reason: fmt.Sprintf(format, args...), Err: err}
	}
	n := min(len(b), len(metadataMagic))
	if string(b[:n]) != metadataMagic[:n] {
		return fail(0, ErrNotSnapshot, "not a weir savepoint: the file does not start with %q", metadataMagic)
	}
	if len(b) < metaMinSize {
		return fail(-1, ErrTruncated, "truncated: expected at least %d bytes, found %d", metaMinSize, len(b))
	}
	version := binary.LittleEndian.Uint16(b[8:])
	switch {
	case version == 0:
		return fail(8, ErrInconsistent, "invalid format version 0")
	case version > Version:
		return fail(8, ErrUnsupportedVersion, "written by a newer weir; format version %d, this build reads up to %d", version, Version)
	}
	bodyLen := binary.LittleEndian.Uint64(b[10:])
	if bodyLen > uint64(len(b)-metaMinSize) {
		want := "more than 2^63"
		if bodyLen <= math.MaxInt64-uint64(metaMinSize) {
			want = fmt.Sprint(bodyLen + uint64(metaMinSize))
		}
		return fail(-1, ErrTruncated, "truncated: expected %s bytes, found %d", want, len(b))
	}
	end := metaHeaderSize + int(bodyLen)
	if got, want := xxhash.Sum64(b[:end]), binary.LittleEndian.Uint64(b[end:]); got != want {
		return fail(end, ErrChecksum, "checksum mismatch: stored %016x, computed %016x over bytes [0, %d)", want, got, end)
	}
	if end+8 != len(b) {
		return fail(end+8, ErrInconsistent, "%d unexpected bytes after the checksum (expected %d bytes, found %d)", len(b)-end-8, end+8, len(b))
	}

	d := &decoder{b: b[:end], off: metaHeaderSize}
	md := &Metadata{FormatVersion: version}
	md.EngineVersion = d.string("engine version")
	md.JobName = d.string("job name")
	copy(md.JobID[:], d.fixed(16, "job ID"))
	md.SnapshotID = d.uvarint("snapshot ID")
	md.Kind = SnapshotKind(d.byte("snapshot kind"))
	md.Timestamp = int64(d.u64("timestamp"))
	nops := d.count(16+4, "operator count")
	if d.err == nil && nops > 0 {
		md.Operators = make([]Operator, nops)
	}
	for i := 0; i < nops && d.err == nil; i++ {
		op := &md.Operators[i]
		copy(op.ID[:], d.fixed(16, "operator ID"))
		op.UID = d.string("operator UID")
		op.Name = d.string("operator name")
		par := d.uvarint("parallelism")
		if d.err == nil && (par == 0 || par > math.MaxInt32) {
			d.failf(ErrInconsistent, "operator %s: invalid parallelism %d", op.ID, par)
		}
		op.Parallelism = int(par)
		nst := d.count(1+1+3+1, "state count")
		if d.err == nil && nst > 0 {
			op.States = make([]State, nst)
		}
		for j := 0; j < nst && d.err == nil; j++ {
			decodeState(d, op, &op.States[j])
		}
	}
	if d.err == nil && d.off != end {
		d.failf(ErrInconsistent, "%d unexpected bytes at the end of the body", end-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := md.Validate(); err != nil {
		return fail(-1, ErrInconsistent, "index inconsistent: %v", err)
	}
	return md, nil
}

func decodeState(d *decoder, op *Operator, st *State) {
	st.Name = d.string("state name")
	kindOff := d.off
	st.Kind = StateKind(d.byte("state kind"))
	st.KeySchema = d.bytes("key schema")
	st.NamespaceSchema = d.bytes("namespace schema")
	st.ValueSchema = d.bytes("value schema")
	if d.err != nil {
		return
	}
	switch {
	case st.Kind.IsKeyed():
		nf := d.count(1+1+1, "file count")
		if d.err == nil && nf > 0 {
			st.Files = make([]KeyedFile, nf)
		}
		for k := 0; k < nf && d.err == nil; k++ {
			f := &st.Files[k]
			f.Path = d.string("file path")
			const minBlock = 8 + 8 + 1 + 1 + 1 + 8
			nb := d.count(minBlock, "block count")
			if d.err == nil && nb > 0 {
				f.Blocks = make([]Block, nb)
			}
			for l := 0; l < nb && d.err == nil; l++ {
				blk := &f.Blocks[l]
				blk.FirstHash = d.u64("first hash")
				blk.LastHash = d.u64("last hash")
				blk.Offset = d.uvarint("block offset")
				blk.Length = d.uvarint("block length")
				blk.Entries = d.uvarint("block entry count")
				blk.Checksum = d.u64("block checksum")
			}
		}
	case st.Kind.IsOperatorList():
		ns := d.count(1, "subtask count")
		if d.err == nil && ns > 0 {
			st.Lists = make([]OperatorList, ns)
		}
		for k := 0; k < ns && d.err == nil; k++ {
			ne := d.count(1, "element count")
			if d.err == nil && ne > 0 {
				st.Lists[k].Elements = make([][]byte, ne)
			}
			for l := 0; l < ne && d.err == nil; l++ {
				st.Lists[k].Elements[l] = d.bytes("list element")
			}
		}
	default:
		d.off = kindOff
		d.failf(ErrInconsistent, "operator %s state %q: unknown state kind %d (written by a newer weir?)", op.ID, st.Name, st.Kind)
	}
}

// decoder reads the body of _metadata. The first failure is kept in err and
// every later read returns a zero value, so callers check err only where a
// decoded count decides an allocation or a branch.
type decoder struct {
	b   []byte
	off int
	err *FileError
}

func (d *decoder) failf(err error, format string, args ...any) {
	if d.err == nil {
		d.err = &FileError{File: MetadataFile, Offset: int64(d.off), Reason: fmt.Sprintf(format, args...), Err: err}
	}
}

func (d *decoder) short(what string, need int) {
	d.failf(ErrInconsistent, "%s: need %d bytes, only %d left in the body", what, need, len(d.b)-d.off)
}

func (d *decoder) fixed(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.short(what, n)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *decoder) byte(what string) byte {
	if v := d.fixed(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.fixed(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 || n > 1 && d.b[d.off+n-1] == 0 {
		d.failf(ErrInconsistent, "%s: bad varint", what)
		return 0
	}
	d.off += n
	return v
}

// count reads a uvarint count of items that take at least minSize bytes
// each, and fails unless that many items fit in the rest of the body.
func (d *decoder) count(minSize int, what string) int {
	v := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if v > uint64((len(d.b)-d.off)/minSize) {
		d.failf(ErrInconsistent, "%s %d cannot fit in the %d bytes left in the body", what, v, len(d.b)-d.off)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.short(what, int(min(n, math.MaxInt32)))
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.fixed(int(n), what)
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
