package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/weirstream/weir"
)

// Read batch limits: a Read call returns after emitting this many lines or
// this many bytes of lines, whichever comes first.
const (
	defaultBatchLines = 1000
	defaultBatchBytes = 1 << 20
)

// readBufferSize is the size of a reader's bufio.Reader. Longer lines are
// assembled in a separate, growing buffer.
const readBufferSize = 64 << 10

// LineSource is a bounded, replayable source of the lines of text files.
// Create it with [Lines].
//
// Each file is one split; a split records the file's path and the byte offset
// of the next line to read, so a snapshot of a reader's splits resumes it at
// exactly the next line (provided the file has not changed). Subtask i of p
// reads files i, i+p, i+2p, ... one after the other, each from start to end.
//
// Lines are emitted without their terminator ("\n" or "\r\n") and without an
// event timestamp ([weir.NoTimestamp]); a last line without a terminator is
// emitted too. Lines may be of any length.
type LineSource struct {
	paths []string
}

// Lines returns a source of the lines of the files at paths, in file order
// within each subtask. Records of different files, read by different
// subtasks, arrive downstream in no particular order.
func Lines(paths ...string) *LineSource {
	return &LineSource{paths: slices.Clone(paths)}
}

// Bounded implements [weir.Source]: a line source ends when its files have
// been read.
func (s *LineSource) Bounded() bool { return true }

// Splits implements [weir.Source]: one split per file, whatever the
// parallelism. It fails if a file does not exist or is a directory, so that
// a job with a mistyped path fails when it starts.
func (s *LineSource) Splits(parallelism int) ([][]byte, error) {
	out := make([][]byte, 0, len(s.paths))
	for _, p := range s.paths {
		if p == "" {
			return nil, errors.New("file: line source: empty path")
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("file: line source: %w", err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("file: line source: %s is a directory; give the paths of the files in it", p)
		}
		out = append(out, appendSplit(nil, split{path: p}))
	}
	return out, nil
}

// NewReader implements [weir.Source].
func (s *LineSource) NewReader(weir.SourceContext) (weir.SourceReader[string], error) {
	return &lineReader{maxLines: defaultBatchLines, maxBytes: defaultBatchBytes}, nil
}

// lineReader reads its splits one after the other. It keeps at most one file
// open. Like every SourceReader, it is used by one goroutine.
type lineReader struct {
	splits []split
	cur    int // index in splits of the split being read

	f    *os.File      // open file of splits[cur], or nil
	br   *bufio.Reader // reads f; reused across files
	long []byte        // assembles lines longer than br's buffer

	maxLines, maxBytes int
	line               string // the line being emitted
}

// AddSplits implements [weir.SourceReader].
func (r *lineReader) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		sp, err := decodeSplit(b)
		if err != nil {
			return err
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

// Read implements [weir.SourceReader].
func (r *lineReader) Read(out weir.SourceOutput[string]) (weir.ReadStatus, error) {
	lines, nbytes := 0, 0
	for lines < r.maxLines && nbytes < r.maxBytes {
		if r.cur >= len(r.splits) {
			return weir.ReadStatus{Done: true}, nil
		}
		sp := &r.splits[r.cur]
		if r.f == nil {
			if err := r.open(sp); err != nil {
				return weir.ReadStatus{}, err
			}
		}
		raw, err := r.readLine()
		if err != nil && err != io.EOF {
			return weir.ReadStatus{}, fmt.Errorf("file: line source: reading %s at offset %d: %w", sp.path, sp.offset, err)
		}
		if len(raw) > 0 {
			sp.offset += int64(len(raw))
			r.line = string(trimEOL(raw))
			out.Emit(&r.line, weir.NoTimestamp)
			lines++
			nbytes += len(raw)
		}
		if err == io.EOF {
			if err := r.closeFile(); err != nil {
				return weir.ReadStatus{}, err
			}
			r.cur++
		}
	}
	return weir.ReadStatus{Done: r.cur >= len(r.splits)}, nil
}

// open opens the file of sp and positions it at sp's offset.
func (r *lineReader) open(sp *split) error {
	f, err := os.Open(sp.path)
	if err != nil {
		return fmt.Errorf("file: line source: %w", err)
	}
	if sp.offset > 0 {
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("file: line source: %w", err)
		}
		if fi.Mode().IsRegular() && fi.Size() < sp.offset {
			_ = f.Close()
			return fmt.Errorf("file: line source: %s has %d bytes, fewer than the offset %d to resume from: the file changed after the snapshot was taken",
				sp.path, fi.Size(), sp.offset)
		}
		if _, err := f.Seek(sp.offset, io.SeekStart); err != nil {
			_ = f.Close()
			return fmt.Errorf("file: line source: resuming at offset %d: %w", sp.offset, err)
		}
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, readBufferSize)
	} else {
		r.br.Reset(f)
	}
	r.f = f
	return nil
}

// readLine returns the next line with its terminator, or the last bytes of
// the file with io.EOF. The slice is valid until the next call.
func (r *lineReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	// Longer than the buffer: assemble it in r.long.
	const keep = 1 << 20 // do not hold on to a buffer grown by a huge line
	if cap(r.long) > keep {
		r.long = nil
	}
	r.long = append(r.long[:0], line...)
	for {
		line, err = r.br.ReadSlice('\n')
		r.long = append(r.long, line...)
		if err != bufio.ErrBufferFull {
			return r.long, err
		}
	}
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte{'\n'}); ok {
		b, _ = bytes.CutSuffix(b, []byte{'\r'})
		return b
	}
	return b
}

func (r *lineReader) closeFile() error {
	f := r.f
	r.f = nil
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("file: line source: %w", err)
	}
	return nil
}

// SnapshotSplits implements [weir.SourceReader]. Finished splits are
// included, at the end of their file.
func (r *lineReader) SnapshotSplits() ([][]byte, error) {
	out := make([][]byte, len(r.splits))
	for i, sp := range r.splits {
		out[i] = appendSplit(nil, sp)
	}
	return out, nil
}

// Close implements [weir.SourceReader].
func (r *lineReader) Close() error { return r.closeFile() }
