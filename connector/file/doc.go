// Package file holds connectors for local files: [Lines], a bounded,
// replayable source of the lines of text files, and [JSONLines], a sink that
// writes a job's records as JSON lines to one file.
//
// Typical use:
//
//	env := weir.NewEnvironment(weir.WithParallelism(4))
//	lines := weir.FromSource(env, file.Lines("a.log", "b.log"), weir.NoWatermarks[string]())
//	events := weir.Map(lines, parseEvent)
//	weir.To(events, file.JSONLines[Event]("events.jsonl"))
//	err := env.Execute(ctx, "parse-logs")
//
// # Line source splits
//
// A line source has one split per file. Its bytes, which a checkpoint stores
// and a restored job decodes, are (version 1):
//
//	byte     version, 1
//	uvarint  length of the path in bytes, at least 1
//	bytes    the path, as given to Lines
//	uvarint  byte offset of the next line to read, at most 2^63-1
//
// and nothing after. The position is a byte offset, never a line count, so
// resuming seeks straight to the next line. A split says nothing of the file's
// contents: resuming assumes that the file has not changed, and fails only
// if it has shrunk below the offset. Readers reject bytes of other versions
// and malformed bytes with an error wrapping [ErrMalformedSplit].
//
// # JSON lines output
//
// [JSONLinesSink] documents how parallel subtasks share the output file and
// what the file holds after a failure. Records are encoded by their own
// AppendJSON method when they have one (see [JSONAppender]), which is the
// fast path, and by encoding/json otherwise.
package file
