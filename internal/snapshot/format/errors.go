package format

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Reader errors are *FileError values whose Err is one of
// these (or an operating-system error), so errors.Is classifies them.
var (
	// ErrNotSnapshot: the path is not a weir snapshot (bad magic bytes, or
	// not a snapshot directory at all).
	ErrNotSnapshot = errors.New("format: not a weir savepoint")
	// ErrIncomplete: a directory without _metadata: a snapshot whose writer
	// never finished (crashed, aborted, or still running). It wraps
	// ErrNotSnapshot.
	ErrIncomplete = fmt.Errorf("format: incomplete snapshot (no _metadata): %w", ErrNotSnapshot)
	// ErrUnsupportedVersion: the file was written in a newer format version
	// than this build reads.
	ErrUnsupportedVersion = errors.New("format: unsupported format version")
	// ErrCorrupt: the file is damaged. ErrTruncated, ErrChecksum,
	// ErrInconsistent and ErrMissingFile wrap it.
	ErrCorrupt = errors.New("format: corrupt snapshot")
	// ErrTruncated: a file is shorter than its header or index says.
	ErrTruncated = fmt.Errorf("format: truncated file: %w", ErrCorrupt)
	// ErrChecksum: a checksum does not match the bytes it covers.
	ErrChecksum = fmt.Errorf("format: checksum mismatch: %w", ErrCorrupt)
	// ErrInconsistent: the bytes are intact but do not agree with each other
	// or with the index in _metadata (bad lengths, unsorted blocks, unknown
	// kinds, unsafe paths, ...).
	ErrInconsistent = fmt.Errorf("format: index inconsistent: %w", ErrCorrupt)
	// ErrMissingFile: a data file referenced by _metadata does not exist.
	ErrMissingFile = fmt.Errorf("format: missing data file: %w", ErrCorrupt)
	// ErrNoState: ReadKeyed was asked for an operator or state the snapshot
	// does not hold, or for a state that is not keyed.
	ErrNoState = errors.New("format: no such keyed state")
)

// FileError reports a problem with one file of a snapshot.
type FileError struct {
	// Dir is the snapshot directory ("" when decoding bytes not read from a
	// directory, as DecodeMetadata does).
	Dir string
	// File is the file's slash-separated path relative to Dir, such as
	// "_metadata" or "keyed-<id>-3.dat".
	File string
	// Offset is the byte offset within File where the problem lies, or -1.
	Offset int64
	// Reason says what is wrong, for people.
	Reason string
	// Err classifies the problem: one of the package's sentinels or an
	// operating-system error.
	Err error
}

// Error formats the error as "savepoint DIR: FILE at offset N: REASON".
func (e *FileError) Error() string {
	var b strings.Builder
	if e.Dir != "" {
		b.WriteString("savepoint ")
		b.WriteString(e.Dir)
		b.WriteString(": ")
	}
	if e.File != "" {
		b.WriteString(e.File)
		if e.Offset >= 0 {
			b.WriteString(" at offset ")
			b.WriteString(strconv.FormatInt(e.Offset, 10))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }
