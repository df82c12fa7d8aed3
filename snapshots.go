package weir

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/internal/snapshot/format"
)

// Version is the engine version recorded in the snapshots this build
// writes.
const Version = "0.1.0-dev"

// snapshotInfo describes a snapshot being written.
type snapshotInfo struct {
	jobID   [16]byte
	jobName string
	id      uint64
	kind    engine.SnapshotKind
	ts      int64
}

// writeSnapshot writes one barrier's task snapshots as a snapshot
// directory: a new savepoint-<job>-<random> directory under parent. Data
// files are written first, _metadata last; on error nothing is left behind.
// It returns the directory.
func writeSnapshot(parent string, info snapshotInfo, tasks []engine.TaskSnapshot) (string, error) {
	w, err := format.Create(parent, info.jobID, nil)
	if err != nil {
		return "", err
	}
	dir, err := fillSnapshot(w, info, tasks)
	if err != nil {
		_ = w.Abort()
		return "", err
	}
	return dir, nil
}

func fillSnapshot(w *format.Writer, info snapshotInfo, tasks []engine.TaskSnapshot) (string, error) {
	type opAcc struct {
		op     format.Operator
		states map[string]*format.State
	}
	ops := map[engine.OperatorID]*opAcc{}
	var order []engine.OperatorID
	state := func(acc *opAcc, name string, kind format.StateKind) *format.State {
		s := acc.states[name]
		if s == nil {
			s = &format.State{Name: name, Kind: kind}
			acc.states[name] = s
		}
		return s
	}
	type keyedFile struct {
		acc   *opAcc
		os    engine.OperatorSnapshot
		files map[string]format.KeyedFile
		err   error
	}
	var files []*keyedFile
	for _, ts := range tasks {
		for _, os := range ts.Operators {
			if len(os.Keyed) == 0 && len(os.Operator) == 0 {
				continue
			}
			acc := ops[os.Node.ID]
			if acc == nil {
				acc = &opAcc{op: format.Operator{ID: format.OperatorID(os.Node.ID), UID: os.Node.UID, Name: os.Node.Name, Parallelism: os.Parallelism},
					states: map[string]*format.State{}}
				ops[os.Node.ID] = acc
				order = append(order, os.Node.ID)
			}
			for _, k := range os.Keyed {
				st := state(acc, k.Name, keyedKind(k))
				st.KeySchema, st.NamespaceSchema, st.ValueSchema = k.KeySchema, k.NamespaceSchema, k.ValueSchema
			}
			if len(os.Keyed) > 0 {
				files = append(files, &keyedFile{acc: acc, os: os})
			}
			for _, l := range os.Operator {
				kind := format.ListEvenSplit
				if l.Mode == opstate.Union {
					kind = format.ListUnion
				}
				st := state(acc, l.Name, kind)
				st.ValueSchema = l.Schema
				for len(st.Lists) < os.Parallelism {
					st.Lists = append(st.Lists, format.OperatorList{})
				}
				st.Lists[os.Subtask] = format.OperatorList{Elements: l.Elements}
			}
		}
	}
	// The data files are written in parallel: each encodes its views of
	// the live state (see engine.KeyedState) and writes them out.
	var failed atomic.Bool
	_ = engine.Parallel(len(files), func(i int) error {
		f := files[i]
		f.files, f.err = writeKeyed(w, f.os, &failed)
		if f.err != nil {
			failed.Store(true)
		}
		return f.err
	})
	// The first error to occur, not a sibling's reaction to it.
	for _, f := range files {
		if f.err != nil && !errors.Is(f.err, errSiblingFailed) {
			return "", f.err
		}
	}
	for _, f := range files {
		for name, kf := range f.files {
			f.acc.states[name].Files = append(f.acc.states[name].Files, kf)
		}
	}
	md := &format.Metadata{EngineVersion: Version, JobName: info.jobName, JobID: info.jobID,
		SnapshotID: info.id, Kind: format.SnapshotKind(info.kind), Timestamp: info.ts}
	for _, id := range order {
		acc := ops[id]
		names := make([]string, 0, len(acc.states))
		for n := range acc.states {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			acc.op.States = append(acc.op.States, *acc.states[n])
		}
		md.Operators = append(md.Operators, acc.op)
	}
	if err := w.Finish(md); err != nil {
		return "", err
	}
	return w.Dir(), nil
}

// errSiblingFailed stops the writing of a data file when another one failed.
var errSiblingFailed = errors.New("weir: another data file of the snapshot failed")

// writeKeyed writes the keyed state of one operator subtask into its data
// file, reading the state's views.
func writeKeyed(w *format.Writer, os engine.OperatorSnapshot, failed *atomic.Bool) (_ map[string]format.KeyedFile, err error) {
	kw, err := w.Keyed(format.OperatorID(os.Node.ID), os.Subtask)
	if err != nil {
		return nil, err
	}
	// Encoding runs the state's serializers, user code among them: a
	// panic fails this snapshot, not the process.
	var current string
	defer func() {
		if r := recover(); r != nil {
			kw.Abort()
			err = fmt.Errorf("writing state %q of %s (uid %q, subtask %d): its serializer panicked: %v", current, os.Node.Name, os.Node.UID, os.Subtask+1, r)
		}
	}()
	n := 0
	for _, k := range os.Keyed {
		current = k.Name
		if err := kw.StartState(k.Name); err != nil {
			kw.Abort()
			return nil, err
		}
		var err error
		if ev, ok := k.View.(backend.EncodedView); ok {
			err = ev.EncodedEntries(func(buf []byte, spans []backend.Span) error {
				if failed.Load() {
					return errSiblingFailed
				}
				return kw.AddEncoded(buf, spans)
			})
		} else {
			err = k.View.Entries(func(e backend.Entry) error {
				if n++; n%4096 == 0 && failed.Load() {
					return errSiblingFailed
				}
				return kw.Add(e)
			})
		}
		if err != nil {
			kw.Abort()
			return nil, fmt.Errorf("state %q of %s (subtask %d): %w", k.Name, os.Node.Name, os.Subtask+1, err)
		}
	}
	return kw.Close()
}

func keyedKind(k engine.KeyedState) format.StateKind {
	switch k.Kind {
	case backend.KindList:
		return format.KeyedList
	case backend.KindMap:
		return format.KeyedMap
	case backend.KindReducing:
		return format.KeyedReducing
	case backend.KindAggregating:
		return format.KeyedAggregating
	case backend.KindTimers:
		if strings.HasSuffix(k.Name, "processing") {
			return format.ProcessingTimers
		}
		return format.EventTimers
	}
	return format.KeyedValue
}

// fileSnapshot is a snapshot on disk as a restore source.
type fileSnapshot struct {
	s *format.Snapshot
	// ops are the snapshot's operators by the ID of the job's operator
	// that restores them: their own, or the one a UID map gives (remap).
	ops map[engine.OperatorID]*format.Operator
	// moved maps the ID of a snapshot operator a UID map renamed to the
	// ID it is restored under.
	moved map[engine.OperatorID]engine.OperatorID
	// opts are the options of keyed reads: format.Mapped unless the
	// environment copies (WithRestoreCopy).
	opts []format.ReadOption
}

// openSnapshot opens the snapshot at path for e's restore.
func (e *Environment) openSnapshot(path string) (*fileSnapshot, error) {
	f, err := openSnapshot(path)
	if err == nil && !e.copyFiles {
		f.opts = append(f.opts, format.Mapped())
	}
	return f, err
}

func openSnapshot(path string) (*fileSnapshot, error) {
	s, err := format.Open(path)
	if err != nil {
		return nil, err
	}
	f := &fileSnapshot{s: s, ops: map[engine.OperatorID]*format.Operator{}}
	md := s.Metadata()
	for i := range md.Operators {
		f.ops[engine.OperatorID(md.Operators[i].ID)] = &md.Operators[i]
	}
	return f, nil
}

// Has implements engine.RestoreSource.
func (f *fileSnapshot) Has(id engine.OperatorID) bool { return f.ops[id] != nil }

// States implements engine.RestoreSource.
func (f *fileSnapshot) States(id engine.OperatorID) (keyed, lists []string) {
	op := f.ops[id]
	if op == nil {
		return nil, nil
	}
	for _, st := range op.States {
		switch {
		case st.Kind.IsKeyed():
			keyed = append(keyed, st.Name)
		case st.Kind.IsOperatorList():
			lists = append(lists, st.Name)
		}
	}
	return keyed, lists
}

// Keyed implements engine.RestoreSource.
func (f *fileSnapshot) Keyed(id engine.OperatorID, r keyspace.Range, fn func(string, backend.Entry) error) error {
	return f.eachKeyed(id, func(op format.OperatorID, name string) error {
		return f.s.ReadKeyed(op, name, r, func(e backend.Entry) error { return fn(name, e) })
	})
}

// KeyedRuns implements engine.KeyedRunSource.
func (f *fileSnapshot) KeyedRuns(id engine.OperatorID, r keyspace.Range, fn func(string, backend.Run) error) error {
	return f.eachKeyed(id, func(op format.OperatorID, name string) error {
		return f.s.ReadKeyedRuns(op, name, r, func(run backend.Run) error { return fn(name, run) }, f.opts...)
	})
}

// eachKeyed calls fn with the name of every keyed state of operator id in
// the snapshot, in the order of the metadata.
func (f *fileSnapshot) eachKeyed(id engine.OperatorID, fn func(op format.OperatorID, name string) error) error {
	op := f.ops[id]
	if op == nil {
		return nil
	}
	for _, st := range op.States {
		if st.Kind.IsKeyed() {
			if err := fn(op.ID, st.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeyedCount implements engine.KeyedCounter from the block index: the
// entries of the blocks that overlap r (an estimate at r's edges).
func (f *fileSnapshot) KeyedCount(id engine.OperatorID, state string, r keyspace.Range) int {
	op := f.ops[id]
	if op == nil {
		return 0
	}
	st := op.State(state)
	if st == nil {
		return 0
	}
	n := 0
	for _, file := range st.Files {
		for _, b := range file.Blocks {
			if r.Overlaps(keyspace.Range{Lo: b.FirstHash, Hi: b.LastHash}) {
				n += int(b.Entries)
			}
		}
	}
	return n
}

// Schemas implements engine.RestoreSource.
func (f *fileSnapshot) Schemas(id engine.OperatorID, state string) (key, namespace, value []byte) {
	if op := f.ops[id]; op != nil {
		for _, st := range op.States {
			if st.Name == state {
				return st.KeySchema, st.NamespaceSchema, st.ValueSchema
			}
		}
	}
	return nil, nil, nil
}

// ListMode implements engine.RestoreSource.
func (f *fileSnapshot) ListMode(id engine.OperatorID, state string) (opstate.Mode, bool) {
	if op := f.ops[id]; op != nil {
		for _, st := range op.States {
			if st.Name == state && st.Kind.IsOperatorList() {
				return listMode(st.Kind), true
			}
		}
	}
	return 0, false
}

// listMode is the redistribution of an operator list state of kind k.
func listMode(k format.StateKind) opstate.Mode {
	if k == format.ListUnion {
		return opstate.Union
	}
	return opstate.EvenSplit
}

// OperatorLists implements engine.RestoreSource.
func (f *fileSnapshot) OperatorLists(id engine.OperatorID, i, p int) (map[string][][]byte, error) {
	op := f.ops[id]
	if op == nil {
		return nil, nil
	}
	out := map[string][][]byte{}
	for _, st := range op.States {
		if !st.Kind.IsOperatorList() {
			continue
		}
		per := make([][][]byte, len(st.Lists))
		for j, l := range st.Lists {
			per[j] = l.Elements
		}
		out[st.Name] = opstate.Redistribute(per, p, listMode(st.Kind))[i]
	}
	return out, nil
}

// UnmatchedOperator is an operator of a snapshot whose state the job does
// not take: one that no operator of the job has the ID of, with all its
// states, or, if InJob, one the job has, with the states it no longer
// declares.
type UnmatchedOperator struct {
	ID     string
	UID    string
	Name   string
	States []string
	// InJob reports that the job has the operator, and States are those
	// of its states that it no longer declares.
	InJob bool
}

// String formats the operator as the restore error lists it.
func (u UnmatchedOperator) String() string {
	uid := u.UID
	if uid == "" {
		uid = "(none)"
	}
	return fmt.Sprintf("operator %s (uid %s, name %q) with state %s", u.ID, uid, u.Name, strings.Join(u.States, ", "))
}

// restoredAs returns the ID of the job's operator that restores the
// snapshot's operator with ID id: id, unless a UID map renamed it.
func (f *fileSnapshot) restoredAs(id engine.OperatorID) engine.OperatorID {
	if to, ok := f.moved[id]; ok {
		return to
	}
	return id
}

// remap applies the UID map m (WithUIDMap) to the snapshot's operators:
// each operator m names, by UID or by ID, is restored by the job's
// operator (of nodes) whose UID m gives.
func (f *fileSnapshot) remap(m map[string]string, nodes []*engine.Node) error {
	if len(m) == 0 {
		return nil
	}
	byUID := map[string]*engine.Node{}
	for _, n := range nodes {
		if n.UID != "" {
			byUID[n.UID] = n
		}
	}
	md := f.s.Metadata()
	moves := map[engine.OperatorID]engine.OperatorID{}
	for _, old := range slices.Sorted(maps.Keys(m)) {
		uid := m[old]
		// old names an operator by UID, or by ID (32 hex digits); a
		// string that is one operator's UID and another's ID is refused.
		var withUID, withID *format.Operator
		id, idErr := parseID(old)
		for i := range md.Operators {
			op := &md.Operators[i]
			if op.UID == old {
				withUID = op
			}
			if idErr == nil && engine.OperatorID(op.ID) == id {
				withID = op
			}
		}
		from := cmp.Or(withUID, withID)
		switch {
		case from == nil:
			return fmt.Errorf("UID map %s=%s: the snapshot has no operator with UID or ID %q (weir inspect lists its operators)", old, uid, old)
		case withUID != nil && withID != nil && withUID != withID:
			return fmt.Errorf("UID map %s=%s: %q is the UID of operator %s and the ID of operator %s (uid %s); the map cannot tell which is meant",
				old, uid, old, engine.OperatorID(withUID.ID), old, orNone(withID.UID))
		}
		to := byUID[uid]
		if to == nil {
			return fmt.Errorf("UID map %s=%s: the job has no operator with UID %q", old, uid, uid)
		}
		fromID := engine.OperatorID(from.ID)
		if _, dup := moves[fromID]; dup {
			return fmt.Errorf("UID map %s=%s: operator %s of the snapshot is named twice in the map", old, uid, fromID)
		}
		moves[fromID] = to.ID
	}
	// The operators the map moves leave their IDs; each target must then be
	// free: no operator of the snapshot may stay on it.
	ops := map[engine.OperatorID]*format.Operator{}
	for id, op := range f.ops {
		if _, moving := moves[id]; !moving {
			ops[id] = op
		}
	}
	for _, from := range slices.SortedFunc(maps.Keys(moves), func(a, b engine.OperatorID) int { return bytes.Compare(a[:], b[:]) }) {
		to := moves[from]
		if stay := ops[to]; stay != nil {
			return fmt.Errorf("UID map: operator %s (uid %s, name %q) of the snapshot would restore into operator %s, which has state of its own in the snapshot (uid %s, name %q); map that one elsewhere too, or drop it with a job that has no such operator",
				from, orNone(f.ops[from].UID), f.ops[from].Name, to, orNone(stay.UID), stay.Name)
		}
		ops[to] = f.ops[from]
	}
	f.ops, f.moved = ops, moves
	return nil
}

// unmatched returns the snapshot's operators the job has no operator for.
func (f *fileSnapshot) unmatched(nodes []*engine.Node) []UnmatchedOperator {
	have := map[engine.OperatorID]bool{}
	for _, n := range nodes {
		have[n.ID] = true
	}
	var out []UnmatchedOperator
	for _, op := range f.s.Metadata().Operators {
		if have[f.restoredAs(engine.OperatorID(op.ID))] {
			continue
		}
		u := UnmatchedOperator{ID: engine.OperatorID(op.ID).String(), UID: op.UID, Name: op.Name}
		for _, st := range op.States {
			u.States = append(u.States, st.Name)
		}
		out = append(out, u)
	}
	return out
}

// restrict hides unmatched operators from the restore, for
// --allow-non-restored-state.
func (f *fileSnapshot) restrict(skip []UnmatchedOperator) {
	for _, u := range skip {
		id, err := parseID(u.ID)
		if err == nil {
			delete(f.ops, f.restoredAs(id))
		}
	}
}
