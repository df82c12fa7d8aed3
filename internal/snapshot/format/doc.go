// Package format is the on-disk format of weir's snapshots — checkpoints and
// savepoints in the canonical (backend-independent) format — and the only
// code that writes or reads it.
//
// A snapshot is a directory holding a `_metadata` file and data files. Every
// reference inside `_metadata` is a path relative to the directory, so a
// snapshot that is moved or copied anywhere still restores. A snapshot is
// complete exactly when `_metadata` exists: a [Writer] writes every data file
// first (temporary name, fsync, rename) and `_metadata` last (temporary name,
// fsync, rename, fsync of the directory), so a crash at any moment leaves
// either a complete snapshot or garbage that [Open] refuses.
//
// `_metadata` ([Metadata]) records the job, every operator (ID, UID, name,
// parallelism) and its states (kind and the opaque serializer snapshots of
// key, namespace and value). Operator list state is inlined in `_metadata`.
// Keyed state and timers live in data files, one per operator subtask
// (`keyed-<operator ID>-<subtask>.dat`), where each state is a run of blocks
// of entries sorted by key hash. `_metadata` holds the index of those blocks
// (first and last hash, byte range, entry count, checksum), so a subtask
// restoring a hash range at any parallelism reads only the blocks that
// overlap its range ([Snapshot.ReadKeyed]).
//
// Writing, for the snapshot protocol:
//
//	w, err := format.Create(savepointsDir, jobID, nil) // or CreateIn(dir, nil)
//	kw, err := w.Keyed(opID, subtask)                   // one per operator subtask, any goroutine
//	kw.StartState("count")
//	table.Entries(subtaskRange, kw.Add)                 // entries in (hash, key, namespace) order
//	files, err := kw.Close()                            // state name -> KeyedFile for the metadata
//	...
//	err = w.Finish(md)                                  // writes _metadata: the snapshot exists
//
// Reading, for restore:
//
//	s, err := format.Open(path) // the directory or its _metadata file
//	err = s.ReadKeyed(opID, "count", keyspace.RangeOf(i, p), restoreEntry)
//
// Every reader error is a [*FileError] naming the snapshot directory, the
// file and what is wrong; errors.Is classifies it (ErrNotSnapshot,
// ErrIncomplete, ErrUnsupportedVersion, ErrCorrupt and its refinements).
// The byte-level layout and the versioning policy are documented in
// docs/format/savepoint.md; the decoders are fuzzed and golden snapshots in
// testdata/ must keep restoring.
//
// The package sits at the bottom of weir's dependencies: it knows hash ranges
// (keyspace) and the entries a keyed backend enumerates (backend.Entry), and
// nothing of the runtime. Serializer snapshots are opaque bytes here.
package format
