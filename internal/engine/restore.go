package engine

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/opstate"
	"github.com/weirstream/weir/internal/keyspace"
	"github.com/weirstream/weir/serde"
)

// RestoreSource supplies the state a job starts from: a savepoint or
// checkpoint, read at the job's new parallelism. Subtasks load their keyed
// state in parallel, so Keyed, Schemas (and KeyedCount, if
// implemented) must be safe for concurrent use.
type RestoreSource interface {
	// Has reports whether the snapshot holds state for operator id.
	Has(id OperatorID) bool
	// Keyed calls fn with every keyed entry of operator id whose key hash
	// lies in r, state by state, in hash order.
	Keyed(id OperatorID, r keyspace.Range, fn func(state string, e backend.Entry) error) error
	// OperatorLists returns operator id's list states as subtask i of p
	// gets them after redistribution, by state name.
	OperatorLists(id OperatorID, i, p int) (map[string][][]byte, error)
	// ListMode returns how operator list state was to be redistributed,
	// if the snapshot has an operator list of that name.
	ListMode(id OperatorID, state string) (opstate.Mode, bool)
	// States returns the names of the keyed states and of the operator
	// lists the snapshot holds for operator id, empty ones included.
	States(id OperatorID) (keyed, lists []string)
	// Schemas returns the encoded serializer snapshots a state, keyed or
	// operator list, was written with (empty if unknown). An operator
	// list has a value schema only, describing one element.
	Schemas(id OperatorID, state string) (key, namespace, value []byte)
}

// KeyedRunSource is implemented by restore sources that can hand keyed
// state over in runs of encoded entries (backend.RunRestorer): fn gets the
// same entries as RestoreSource.Keyed, a run at a time.
type KeyedRunSource interface {
	KeyedRuns(id OperatorID, r keyspace.Range, fn func(state string, run backend.Run) error) error
}

// KeyedCounter is implemented by restore sources that can tell about how
// many entries of a keyed state lie in a hash range, so that tables can be
// sized before they are restored.
type KeyedCounter interface {
	KeyedCount(id OperatorID, state string, r keyspace.Range) int
}

// OperatorState returns a new backend for the operator's list states. When
// the job is restored, a list registered in it starts with its restored
// elements, once its serializer is found able to read them: an operator
// that registers its lists while it is made (in Make, or a function's Open)
// sees its state there, as Flink's initializeState comes before open.
func (c *Context) OperatorState() *opstate.Backend {
	if c.restored == nil {
		return opstate.New()
	}
	return opstate.NewRestored(c.restored, func(name string, mode opstate.Mode, schema []byte) error {
		return checkList(c.t.job.opts.Restore, c.node, name, mode, schema)
	})
}

// checkList checks that an operator list the job declares with mode and
// element schema can take the snapshot's list of that name: the same
// redistribution (a list restored as a union was dealt out whole to every
// subtask, and taking it as an even split would duplicate it; Flink refuses
// the change too), and a serializer that can read its elements.
func checkList(src RestoreSource, n *Node, name string, mode opstate.Mode, schema []byte) error {
	if old, ok := src.ListMode(n.ID, name); ok && old != mode {
		return fmt.Errorf("%s, state %q: the savepoint holds %s operator list state and the job declares it %s; a list's redistribution cannot change across a restore (give the state a new name to start it empty)",
			operatorLabel(n), name, old, mode)
	}
	return compareSchemas(src, n, name, nil, nil, schema)
}

// restoreLists loads the restored operator lists into an operator's state,
// apart from those its backend took when they were registered
// (Context.OperatorState). A list the operator does not declare is skipped:
// checkDeclared, which runs first, has failed the restore or dropped it.
func restoreLists(src RestoreSource, n *Node, inst *Instance, lists map[string][][]byte) error {
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
		if inst.Operator != nil && inst.Operator.Restored(name) {
			continue
		}
		t := byName[name]
		if t == nil {
			continue // dropped (checkDeclared)
		}
		if err := checkList(src, n, name, t.Mode(), t.Schema()); err != nil {
			return err
		}
		if err := t.Restore(lists[name]); err != nil {
			return fmt.Errorf("operator %q: %w", n.Name, err)
		}
	}
	return nil
}

// restoreKeyed loads the keyed entries of the subtask's hash range, after
// checking, once per state, that the serializers the job declares can read
// what the snapshot's were written with. The entries of a state the
// operator does not declare are skipped: checkDeclared, which runs first,
// has failed the restore or dropped it.
func restoreKeyed(src RestoreSource, n *Node, inst *Instance, r keyspace.Range) error {
	var (
		started bool
		last    string
		table   backend.Table       // nil while skipping last
		runs    backend.RunRestorer // table, if it restores runs
	)
	// use makes state the table restored into, or skips it.
	use := func(state string) error {
		started, last, table, runs = true, state, nil, nil
		if inst.Keyed != nil {
			table = inst.Keyed.Table(state)
		}
		if table == nil {
			return nil // dropped (checkDeclared): skip its entries
		}
		if err := checkSchemas(src, n, table); err != nil {
			return err
		}
		if rs, ok := table.(backend.Reserver); ok {
			if kc, ok := src.(KeyedCounter); ok {
				rs.Reserve(kc.KeyedCount(n.ID, state, r), r)
			}
		}
		runs, _ = table.(backend.RunRestorer)
		return nil
	}
	// loadErr names the operator and the state in an error of the table's.
	loadErr := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%s, state %q: %w", operatorLabel(n), last, err)
	}
	if rs, ok := src.(KeyedRunSource); ok {
		return rs.KeyedRuns(n.ID, r, func(state string, run backend.Run) error {
			if !started || state != last {
				if err := use(state); err != nil {
					return err
				}
			}
			if table == nil {
				return nil
			}
			if runs != nil {
				return loadErr(runs.RestoreRun(run))
			}
			p := run.Bytes
			for k := run.N; k > 0; k-- {
				e, rest, err := backend.NextEncoded(p)
				if err != nil {
					return loadErr(err)
				}
				if err := table.Restore(e); err != nil {
					return loadErr(err)
				}
				p = rest
			}
			return nil
		})
	}
	return src.Keyed(n.ID, r, func(state string, e backend.Entry) error {
		if !started || state != last {
			if err := use(state); err != nil {
				return err
			}
		}
		if table == nil {
			return nil
		}
		return loadErr(table.Restore(e))
	})
}

// checkSchemas compares a keyed state's serializer snapshots in the
// snapshot with the ones of the job's serializers.
func checkSchemas(src RestoreSource, n *Node, t backend.Table) error {
	sr, ok := t.(backend.SchemaReporter)
	if !ok {
		return nil
	}
	newK, newN, newV := sr.Schemas()
	return compareSchemas(src, n, t.Name(), newK, newN, newV)
}

// compareSchemas checks that the job's serializers, whose snapshots are
// newK, newN and newV, can read what the snapshot's state was written with.
// A side whose schema is unknown (a serializer that cannot describe itself)
// is not compared.
func compareSchemas(src RestoreSource, n *Node, state string, newK, newN, newV []byte) error {
	oldK, oldN, oldV := src.Schemas(n.ID, state)
	for _, c := range []struct {
		role     string
		old, new []byte
	}{{"key", oldK, newK}, {"namespace", oldN, newN}, {"value", oldV, newV}} {
		if len(c.old) == 0 || len(c.new) == 0 {
			continue
		}
		o, _, err := serde.ReadSchema(c.old)
		if err != nil {
			return fmt.Errorf("operator %q (%s), state %q: the snapshot's %s schema is unreadable: %w", n.Name, n.ID, state, c.role, err)
		}
		nw, _, err := serde.ReadSchema(c.new)
		if err != nil {
			return fmt.Errorf("operator %q (%s), state %q: %s schema: %w", n.Name, n.ID, state, c.role, err)
		}
		if err := serde.Compatible(o, nw); err != nil {
			return fmt.Errorf("%s, state %q: the job's %s serializer cannot read the savepoint's data: %w; keep a type the old data can be read as, or give the state a new name and restore with --allow-non-restored-state to drop the old one", operatorLabel(n), state, c.role, err)
		}
	}
	return nil
}

// checkDeclared checks, once the operator is made, that it declares every
// state the snapshot holds for it, empty ones included. It returns the states it does not
// declare (described as `keyed state "x"`), after dropping each through
// drop if drop is set.
func checkDeclared(src RestoreSource, n *Node, inst *Instance, drop func(n *Node, kind, state string)) (missing []string) {
	keyed, lists := src.States(n.ID)
	for _, name := range keyed {
		if inst.Keyed == nil || inst.Keyed.Table(name) == nil {
			missing = append(missing, KindKeyed+" "+strconv.Quote(name))
			if drop != nil {
				drop(n, KindKeyed, name)
			}
		}
	}
	for _, name := range lists {
		if inst.Operator == nil || !slices.ContainsFunc(inst.Operator.Tables(), func(t opstate.Table) bool { return t.Name() == name }) {
			missing = append(missing, KindOperatorList+" "+strconv.Quote(name))
			if drop != nil {
				drop(n, KindOperatorList, name)
			}
		}
	}
	return missing
}

// undeclaredOp is an operator that does not declare states the snapshot
// holds for it, as checkDeclared found them.
type undeclaredOp struct {
	node   *Node
	head   *Node // the head of its chain
	t      *task // the first subtask that found them
	states []string
}

// undeclared is the error for operators that do not declare states the
// snapshot holds for them: all of them, so that one attempt names every
// change a restore needs.
func undeclared(ops []undeclaredOp) error {
	n := 0
	for _, op := range ops {
		n += len(op.states)
	}
	it, does := "it", "does"
	if n > 1 {
		it, does = "them", "do"
	}
	remedy := fmt.Sprintf("declare %s again (same names and types) to keep %s, or allow non-restored state (-n/--allow-non-restored-state, weir.AllowNonRestoredState) to drop %s", it, it, it)
	if len(ops) == 1 {
		op := ops[0]
		return fmt.Errorf("engine: creating %s (subtask %d/%d): %s: the snapshot has %s, which this version of the operator %s not declare when it opens; %s",
			op.head.Name, op.t.subtask+1, op.t.parallelism, operatorLabel(op.node), strings.Join(op.states, ", "), does, remedy)
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s: the snapshot has %s", operatorLabel(op.node), strings.Join(op.states, ", "))
	}
	return fmt.Errorf("engine: restoring %d operators: %s; these versions of the operators do not declare them when they open; %s",
		len(ops), strings.Join(parts, "; "), remedy)
}

// operatorLabel names an operator in restore errors by name, UID and ID.
func operatorLabel(n *Node) string {
	uid := n.UID
	if uid == "" {
		uid = "(none)"
	}
	return fmt.Sprintf("operator %q (uid %s, id %s)", n.Name, uid, n.ID)
}

// MemorySnapshot is a snapshot held in memory, assembled from the task
// snapshots of one barrier. It implements RestoreSource (tests, and the
// shape every stored snapshot is read into).
type MemorySnapshot struct {
	ops map[OperatorID]*memOperator
}

type memOperator struct {
	keyed   map[string][]backend.Entry
	schemas map[string][3][]byte
	// lists[name][subtask] are the elements subtask wrote.
	lists map[string][][][]byte
	modes map[string]opstate.Mode
	par   int
}

// NewMemorySnapshot assembles the snapshots every task reported for one
// barrier. It reads and releases their views.
func NewMemorySnapshot(tasks []TaskSnapshot) (*MemorySnapshot, error) {
	defer func() {
		for _, ts := range tasks {
			ts.Release()
		}
	}()
	m := &MemorySnapshot{ops: map[OperatorID]*memOperator{}}
	for _, ts := range tasks {
		for _, os := range ts.Operators {
			op := m.ops[os.Node.ID]
			if op == nil {
				op = &memOperator{keyed: map[string][]backend.Entry{}, schemas: map[string][3][]byte{}, lists: map[string][][][]byte{}, modes: map[string]opstate.Mode{}, par: os.Parallelism}
				m.ops[os.Node.ID] = op
			}
			for _, k := range os.Keyed {
				es, err := readView(k.View)
				if err != nil {
					return nil, fmt.Errorf("engine: state %q of %s: %w", k.Name, os.Node.Name, err)
				}
				op.keyed[k.Name] = append(op.keyed[k.Name], es...)
				op.schemas[k.Name] = [3][]byte{k.KeySchema, k.NamespaceSchema, k.ValueSchema}
			}
			for _, l := range os.Operator {
				if op.lists[l.Name] == nil {
					op.lists[l.Name] = make([][][]byte, os.Parallelism)
				}
				if os.Subtask >= len(op.lists[l.Name]) {
					return nil, fmt.Errorf("engine: subtask %d of a parallelism-%d operator", os.Subtask, os.Parallelism)
				}
				op.lists[l.Name][os.Subtask] = l.Elements
				op.schemas[l.Name] = [3][]byte{nil, nil, l.Schema}
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

// readView copies a view's entries into one arena and releases the view.
func readView(v backend.View) ([]backend.Entry, error) {
	if v == nil {
		return nil, nil
	}
	defer v.Release()
	type offsets struct {
		hash       uint64
		k, n, v, e int
	}
	var (
		arena []byte
		offs  []offsets
	)
	err := v.Entries(func(e backend.Entry) error {
		o := offsets{hash: e.Hash, k: len(arena)}
		arena = append(arena, e.Key...)
		o.n = len(arena)
		arena = append(arena, e.Namespace...)
		o.v = len(arena)
		arena = append(arena, e.Value...)
		o.e = len(arena)
		offs = append(offs, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	es := make([]backend.Entry, len(offs))
	for i, o := range offs {
		es[i] = backend.Entry{Hash: o.hash, Key: arena[o.k:o.n:o.n], Namespace: arena[o.n:o.v:o.v], Value: arena[o.v:o.e:o.e]}
	}
	return es, nil
}

// KeyedCount implements KeyedCounter.
func (m *MemorySnapshot) KeyedCount(id OperatorID, state string, r keyspace.Range) int {
	op := m.ops[id]
	if op == nil {
		return 0
	}
	es := op.keyed[state]
	lo := sort.Search(len(es), func(i int) bool { return es[i].Hash >= r.Lo })
	hi := sort.Search(len(es), func(i int) bool { return es[i].Hash > r.Hi })
	return hi - lo
}

// Has implements RestoreSource.
func (m *MemorySnapshot) Has(id OperatorID) bool { return m.ops[id] != nil }

// States implements RestoreSource.
func (m *MemorySnapshot) States(id OperatorID) (keyed, lists []string) {
	op := m.ops[id]
	if op == nil {
		return nil, nil
	}
	for name := range op.keyed {
		keyed = append(keyed, name)
	}
	for name := range op.lists {
		lists = append(lists, name)
	}
	slices.Sort(keyed)
	slices.Sort(lists)
	return keyed, lists
}

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

// Schemas implements RestoreSource.
func (m *MemorySnapshot) Schemas(id OperatorID, state string) (key, namespace, value []byte) {
	if op := m.ops[id]; op != nil {
		if s, ok := op.schemas[state]; ok {
			return s[0], s[1], s[2]
		}
	}
	return nil, nil, nil
}

// ListMode implements RestoreSource.
func (m *MemorySnapshot) ListMode(id OperatorID, state string) (opstate.Mode, bool) {
	if op := m.ops[id]; op != nil {
		if _, ok := op.lists[state]; ok {
			return op.modes[state], true
		}
	}
	return 0, false
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
