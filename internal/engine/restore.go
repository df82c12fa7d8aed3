package engine

import (
	"fmt"
	"slices"
	"sort"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/keyspace"
)

// RestoreSource supplies the state a job starts from: a savepoint or
// checkpoint, read at the job's new parallelism.
type RestoreSource interface {
	// Has reports whether the snapshot holds state for operator id.
	Has(id OperatorID) bool
	// Keyed calls fn with every keyed entry of operator id whose key hash
	// lies in r, state by state, in hash order.
	Keyed(id OperatorID, r keyspace.Range, fn func(state string, e backend.Entry) error) error
	// OperatorLists returns operator id's list states as subtask i of p
	// gets them after redistribution, by state name.
	OperatorLists(id OperatorID, i, p int) (map[string][][]byte, error)
}

// RestoredList returns the elements of operator list state name that this
// subtask restored, if the job started from a snapshot holding it.
// Operators read it while they are created; a source takes its splits from
// it instead of computing fresh ones.
func (c *Context) RestoredList(name string) ([][]byte, bool) {
	l, ok := c.restored[name]
	return l, ok
}

// restoreLists loads the restored operator lists into an operator's state.
func restoreLists(n *Node, inst *Instance, lists map[string][][]byte) error {
	if len(lists) == 0 {
		return nil
	}
	byName := map[string]opstate.Table{}
	if inst.Operator != nil {
		for _, t := range inst.Operator.Tables() {
			byName[t.Name()] = t
		}
	}
	names := make([]string, 0, len(lists))
	for name := range lists {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := byName[name]
		if t == nil {
			return fmt.Errorf("operator %q: the snapshot has operator state %q, which this version of the operator does not declare", n.Name, name)
		}
		if err := t.Restore(lists[name]); err != nil {
			return fmt.Errorf("operator %q: %w", n.Name, err)
		}
	}
	return nil
}

// restoreKeyed loads the keyed entries of the subtask's hash range.
func restoreKeyed(src RestoreSource, n *Node, inst *Instance, r keyspace.Range) error {
	return src.Keyed(n.ID, r, func(state string, e backend.Entry) error {
		var t backend.Table
		if inst.Keyed != nil {
			t = inst.Keyed.Table(state)
		}
		if t == nil {
			return fmt.Errorf("operator %q: the snapshot has keyed state %q, which this version of the operator does not declare", n.Name, state)
		}
		return t.Restore(e)
	})
}

// MemorySnapshot is a snapshot held in memory, assembled from the task
// snapshots of one barrier. It implements RestoreSource (tests, and the
// shape every stored snapshot is read into).
type MemorySnapshot struct {
	ops map[OperatorID]*memOperator
}

type memOperator struct {
	keyed map[string][]backend.Entry
	// lists[name][subtask] are the elements subtask wrote.
	lists map[string][][][]byte
	modes map[string]opstate.Mode
	par   int
}

// NewMemorySnapshot assembles the snapshots every task reported for one
// barrier.
func NewMemorySnapshot(tasks []TaskSnapshot) (*MemorySnapshot, error) {
	m := &MemorySnapshot{ops: map[OperatorID]*memOperator{}}
	for _, ts := range tasks {
		for _, os := range ts.Operators {
			op := m.ops[os.Node.ID]
			if op == nil {
				op = &memOperator{keyed: map[string][]backend.Entry{}, lists: map[string][][][]byte{}, modes: map[string]opstate.Mode{}, par: os.Parallelism}
				m.ops[os.Node.ID] = op
			}
			for _, k := range os.Keyed {
				op.keyed[k.Name] = append(op.keyed[k.Name], k.Entries...)
			}
			for _, l := range os.Operator {
				if op.lists[l.Name] == nil {
					op.lists[l.Name] = make([][][]byte, os.Parallelism)
				}
				if os.Subtask >= len(op.lists[l.Name]) {
					return nil, fmt.Errorf("engine: subtask %d of a parallelism-%d operator", os.Subtask, os.Parallelism)
				}
				op.lists[l.Name][os.Subtask] = l.Elements
				op.modes[l.Name] = l.Mode
			}
		}
	}
	for _, op := range m.ops {
		for _, es := range op.keyed {
			slices.SortStableFunc(es, func(a, b backend.Entry) int {
				switch {
				case a.Hash < b.Hash:
					return -1
				case a.Hash > b.Hash:
					return 1
				}
				return 0
			})
		}
	}
	return m, nil
}

// Has implements RestoreSource.
func (m *MemorySnapshot) Has(id OperatorID) bool { return m.ops[id] != nil }

// Operators returns the IDs of the operators the snapshot holds state for.
func (m *MemorySnapshot) Operators() []OperatorID {
	out := make([]OperatorID, 0, len(m.ops))
	for id := range m.ops {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b OperatorID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// Keyed implements RestoreSource.
func (m *MemorySnapshot) Keyed(id OperatorID, r keyspace.Range, fn func(string, backend.Entry) error) error {
	op := m.ops[id]
	if op == nil {
		return nil
	}
	names := make([]string, 0, len(op.keyed))
	for name := range op.keyed {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		es := op.keyed[name]
		i := sort.Search(len(es), func(i int) bool { return es[i].Hash >= r.Lo })
		for ; i < len(es) && es[i].Hash <= r.Hi; i++ {
			if err := fn(name, es[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// OperatorLists implements RestoreSource.
func (m *MemorySnapshot) OperatorLists(id OperatorID, i, p int) (map[string][][]byte, error) {
	op := m.ops[id]
	if op == nil {
		return nil, nil
	}
	out := map[string][][]byte{}
	for name, perSubtask := range op.lists {
		out[name] = opstate.Redistribute(perSubtask, p, op.modes[name])[i]
	}
	return out, nil
}
