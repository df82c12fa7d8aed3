package format

import (
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// MetadataFile is the name of the file whose presence makes a snapshot
// directory a complete snapshot.
const MetadataFile = "_metadata"

// OperatorID is an operator's 16-byte ID, the key by which restore matches
// state to operators.
type OperatorID [16]byte

// String returns the ID as 32 lowercase hex digits.
func (id OperatorID) String() string { return hex.EncodeToString(id[:]) }

// SnapshotKind says whether a snapshot is a checkpoint or a savepoint.
type SnapshotKind uint8

// Snapshot kinds.
const (
	// Checkpoint is a snapshot taken, owned and rotated by the engine.
	Checkpoint SnapshotKind = iota + 1
	// Savepoint is a snapshot triggered and owned by the user.
	Savepoint
)

// String returns "checkpoint" or "savepoint".
func (k SnapshotKind) String() string {
	switch k {
	case Checkpoint:
		return "checkpoint"
	case Savepoint:
		return "savepoint"
	}
	return fmt.Sprintf("snapshot-kind(%d)", uint8(k))
}

// StateKind is the kind of one state of an operator. Keyed kinds (including
// timers) are stored in data files by hash; operator list kinds are stored
// inline in _metadata, one list per subtask.
type StateKind uint8

// State kinds. The first five have the numeric values of backend.Kind, so
// StateKind(k) converts a backend kind.
const (
	KeyedValue       StateKind = 1 // keyed value state
	KeyedList        StateKind = 2 // keyed list state
	KeyedMap         StateKind = 3 // keyed map state
	KeyedReducing    StateKind = 4 // keyed reducing state
	KeyedAggregating StateKind = 5 // keyed aggregating state
	EventTimers      StateKind = 6 // event-time timers, keyed
	ProcessingTimers StateKind = 7 // processing-time timers, keyed
	ListEvenSplit    StateKind = 8 // operator list state, redistributed evenly on rescale
	ListUnion        StateKind = 9 // operator list state, every subtask gets the union on rescale
)

var stateKindNames = [...]string{"", "value", "list", "map", "reducing", "aggregating",
	"event-timers", "processing-timers", "operator-list-even-split", "operator-list-union"}

// String returns the kind's name, such as "value" or "operator-list-union".
func (k StateKind) String() string {
	if k.valid() {
		return stateKindNames[k]
	}
	return fmt.Sprintf("state-kind(%d)", uint8(k))
}

func (k StateKind) valid() bool { return k >= KeyedValue && k <= ListUnion }

// IsKeyed reports whether state of kind k is keyed (stored in data files by
// key hash); timers are keyed.
func (k StateKind) IsKeyed() bool { return k >= KeyedValue && k <= ProcessingTimers }

// IsOperatorList reports whether state of kind k is operator list state
// (stored inline, one list per subtask).
func (k StateKind) IsOperatorList() bool { return k == ListEvenSplit || k == ListUnion }

// Metadata is the content of a snapshot's _metadata file.
type Metadata struct {
	// FormatVersion is the version the file was written in. DecodeMetadata
	// sets it; EncodeMetadata ignores it and always writes Version.
	FormatVersion uint16
	// EngineVersion is the version of weir that wrote the snapshot.
	EngineVersion string
	// JobName is the job's name.
	JobName string
	// JobID is the ID of the job run that took the snapshot.
	JobID [16]byte
	// SnapshotID is the checkpoint or savepoint number within the job run.
	SnapshotID uint64
	// Kind says whether this is a checkpoint or a savepoint.
	Kind SnapshotKind
	// Timestamp is when the snapshot was triggered, in milliseconds since
	// the Unix epoch.
	Timestamp int64
	// Operators are the job's stateful operators, in the writer's order.
	Operators []Operator
}

// Operator is the state of one operator.
type Operator struct {
	// ID is the operator's ID; restore matches state by it.
	ID OperatorID
	// UID is the operator's UID, or "" if it had none (for display).
	UID string
	// Name is the operator's name (for display).
	Name string
	// Parallelism is the operator's parallelism when the snapshot was taken.
	Parallelism int
	// States are the operator's states; names are unique.
	States []State
}

// State is one named state of an operator.
type State struct {
	// Name is the state's name, unique within its operator.
	Name string
	// Kind is the state's kind.
	Kind StateKind
	// KeySchema, NamespaceSchema and ValueSchema are the serializer
	// snapshots the state was written with. This package does not interpret
	// them; nil and empty are the same.
	KeySchema, NamespaceSchema, ValueSchema []byte
	// Files are the data files of a keyed state (Kind.IsKeyed), usually one
	// per subtask at snapshot time that held entries of this state. Their
	// hash ranges normally do not overlap, but readers do not rely on it.
	Files []KeyedFile
	// Lists is the content of an operator list state (Kind.IsOperatorList):
	// one list per subtask at snapshot time, indexed by subtask.
	Lists []OperatorList
}

// KeyedFile is one state's part of a data file: its blocks, sorted by hash.
type KeyedFile struct {
	// Path is the data file's slash-separated path relative to the snapshot
	// directory.
	Path string
	// Blocks index the state's entries in the file, in file order, which
	// is also hash order.
	Blocks []Block
}

// Block indexes one block of a data file.
type Block struct {
	// FirstHash and LastHash are the key hashes of the block's first and
	// last entries. A run of equal hashes may continue into the next block.
	FirstHash, LastHash uint64
	// Offset and Length are the block's byte range in the file, header and
	// checksum included.
	Offset, Length uint64
	// Entries is the number of entries in the block (at least 1).
	Entries uint64
	// Checksum is the block's xxhash64, as stored in the block's trailer.
	Checksum uint64
}

// OperatorList is one subtask's elements of an operator list state, each
// encoded by the state's value serializer.
type OperatorList struct {
	// Elements are the encoded elements in list order.
	Elements [][]byte
}

// Operator returns the operator with the given ID, or nil.
func (md *Metadata) Operator(id OperatorID) *Operator {
	for i := range md.Operators {
		if md.Operators[i].ID == id {
			return &md.Operators[i]
		}
	}
	return nil
}

// State returns the state with the given name, or nil.
func (op *Operator) State(name string) *State {
	for i := range op.States {
		if op.States[i].Name == name {
			return &op.States[i]
		}
	}
	return nil
}

// Validate reports the first reason md cannot be written or was not written
// by a correct writer: unknown kinds, duplicate operator IDs or state names,
// keyed state with lists or list state with files, unsafe or duplicate file
// paths, and blocks that are empty, unsorted or overlapping.
func (md *Metadata) Validate() error {
	if md.Kind != Checkpoint && md.Kind != Savepoint {
		return fmt.Errorf("unknown snapshot kind %d", md.Kind)
	}
	ops := make(map[OperatorID]bool, len(md.Operators))
	for i := range md.Operators {
		op := &md.Operators[i]
		if ops[op.ID] {
			return fmt.Errorf("operator %s appears twice", op.ID)
		}
		ops[op.ID] = true
		if op.Parallelism < 1 {
			return fmt.Errorf("operator %s (%q): parallelism %d", op.ID, op.Name, op.Parallelism)
		}
		names := make(map[string]bool, len(op.States))
		for j := range op.States {
			st := &op.States[j]
			where := fmt.Sprintf("operator %s (%q) state %q", op.ID, op.Name, st.Name)
			if st.Name == "" {
				return fmt.Errorf("operator %s (%q): state with empty name", op.ID, op.Name)
			}
			if names[st.Name] {
				return fmt.Errorf("%s appears twice", where)
			}
			names[st.Name] = true
			if !st.Kind.valid() {
				return fmt.Errorf("%s: unknown state kind %d", where, st.Kind)
			}
			if st.Kind.IsKeyed() && len(st.Lists) > 0 {
				return fmt.Errorf("%s: keyed state (%s) has operator lists", where, st.Kind)
			}
			if st.Kind.IsOperatorList() {
				if len(st.Files) > 0 {
					return fmt.Errorf("%s: operator list state (%s) has data files", where, st.Kind)
				}
				if len(st.Lists) > op.Parallelism {
					return fmt.Errorf("%s: %d subtask lists for parallelism %d", where, len(st.Lists), op.Parallelism)
				}
			}
			paths := make(map[string]bool, len(st.Files))
			for k := range st.Files {
				f := &st.Files[k]
				if err := checkRelPath(f.Path); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				if paths[f.Path] {
					return fmt.Errorf("%s: file %q listed twice", where, f.Path)
				}
				paths[f.Path] = true
				if err := checkBlocks(f.Blocks); err != nil {
					return fmt.Errorf("%s: file %q: %w", where, f.Path, err)
				}
			}
		}
	}
	return nil
}

// checkBlocks checks that blocks are non-empty, well-formed, sorted by hash
// and by offset, and do not overlap.
func checkBlocks(blocks []Block) error {
	if len(blocks) == 0 {
		return fmt.Errorf("no blocks")
	}
	var end uint64 = dataHeaderSize
	var prevLast uint64
	for i, b := range blocks {
		switch {
		case b.Entries == 0:
			return fmt.Errorf("block %d has no entries", i)
		case b.Length < blockOverhead+minEntrySize:
			return fmt.Errorf("block %d: length %d is less than the minimum %d", i, b.Length, blockOverhead+minEntrySize)
		case b.Offset < end:
			return fmt.Errorf("block %d at offset %d overlaps the header or the previous block (which ends at %d)", i, b.Offset, end)
		case b.Length > maxBlockLength:
			return fmt.Errorf("block %d: length %d is more than the maximum %d", i, b.Length, uint64(maxBlockLength))
		case b.Offset+b.Length < b.Offset:
			return fmt.Errorf("block %d: offset %d + length %d overflows", i, b.Offset, b.Length)
		case b.FirstHash > b.LastHash:
			return fmt.Errorf("block %d: first hash %016x > last hash %016x", i, b.FirstHash, b.LastHash)
		case i > 0 && b.FirstHash < prevLast:
			return fmt.Errorf("block %d: first hash %016x < previous block's last hash %016x", i, b.FirstHash, prevLast)
		case b.Entries > max(b.Length-blockOverhead, maxCompressedRaw)/minEntrySize:
			// A payload holds at most len/minEntrySize entries, a compressed
			// one at most maxCompressedRaw/minEntrySize.
			return fmt.Errorf("block %d: %d entries cannot fit in %d bytes", i, b.Entries, b.Length)
		}
		end = b.Offset + b.Length
		prevLast = b.LastHash
	}
	return nil
}

// checkRelPath checks that p is a clean, local, slash-separated relative
// path naming a data file inside the snapshot directory.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty file path")
	case p == MetadataFile:
		return fmt.Errorf("file path %q names the metadata file", p)
	case strings.ContainsAny(p, "\\\x00:"):
		return fmt.Errorf("file path %q contains a backslash, colon or NUL", p)
	case path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)):
		return fmt.Errorf("file path %q is not a clean path inside the snapshot directory", p)
	}
	return nil
}
