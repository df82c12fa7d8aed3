package engine

import (
	"slices"
	"sync"

	"github.com/weirstream/weir/internal/backend/opstate"
)

// The statuses of a state in a Check.
const (
	// StateMatched: the snapshot holds the state and the job declares it
	// with serializers that read it: it is restored.
	StateMatched = "matched"
	// StateNew: the job declares the state and the snapshot has none: it
	// starts empty.
	StateNew = "new"
	// StateDropped: the snapshot holds the state and the job does not
	// declare it: the restore fails unless non-restored state is allowed,
	// which drops it.
	StateDropped = "dropped"
	// StateIncompatible: the job declares the state with a serializer that
	// cannot read the snapshot's, or a list redistributed differently: the
	// restore fails (StateCheck.Reason says why).
	StateIncompatible = "incompatible"
)

// StateCheck is how one state of an operator would restore.
type StateCheck struct {
	Name string
	// Kind is KindKeyed or KindOperatorList.
	Kind string
	// Status is StateMatched, StateNew, StateDropped or StateIncompatible.
	Status string
	// Reason says why a state is incompatible, as the restore's error
	// would.
	Reason string
}

// Check tells how the graph would restore from opts.Restore, without
// restoring, processing or writing anything. It makes one instance of every
// operator, as a restore does (the operator opens and declares its states),
// compares the states it declares with the snapshot's, and closes it
// again. It returns each operator's states by operator ID: an operator the
// snapshot has no state for lists its states as new. Operators open as
// subtask 1 of 1.
func Check(nodes []*Node, opts Options) (map[OperatorID][]StateCheck, error) {
	opts.ensureDefaults()
	plan, err := Compile(nodes, opts.Parallelism)
	if err != nil {
		return nil, err
	}
	for n := range plan.Parallelism {
		plan.Parallelism[n] = 1
	}
	done := make(chan struct{})
	defer close(done)
	j := &job{opts: opts, done: done, pools: map[*Edge]*sync.Pool{}, plan: plan, checks: map[OperatorID][]StateCheck{}}
	tasks, err := j.build()
	if err != nil {
		return nil, err
	}
	var closeErrs []error
	for _, t := range tasks {
		t.proc.stop() // timers an operator registered as it opened
		closeErrs = append(closeErrs, runClosers(t.closers)...)
	}
	if err := joinErrors(nil, closeErrs); err != nil {
		return nil, err
	}
	return j.checks, nil
}

// checkStates compares the states instance inst of operator n declares
// with those src holds for it (src may be nil).
func checkStates(src RestoreSource, n *Node, inst *Instance) []StateCheck {
	var out []StateCheck
	var keyed, lists []string
	if src != nil && src.Has(n.ID) {
		keyed, lists = src.States(n.ID)
	}
	for _, name := range keyed {
		c := StateCheck{Name: name, Kind: KindKeyed, Status: StateDropped}
		if inst.Keyed != nil {
			if t := inst.Keyed.Table(name); t != nil {
				c.Status = StateMatched
				if err := checkSchemas(src, n, t); err != nil {
					c.Status, c.Reason = StateIncompatible, err.Error()
				}
			}
		}
		out = append(out, c)
	}
	var declared []opstate.Table
	if inst.Operator != nil {
		declared = inst.Operator.Tables()
	}
	for _, name := range lists {
		c := StateCheck{Name: name, Kind: KindOperatorList, Status: StateDropped}
		if i := slices.IndexFunc(declared, func(t opstate.Table) bool { return t.Name() == name }); i >= 0 {
			c.Status = StateMatched
			if err := checkList(src, n, name, declared[i].Mode(), declared[i].Schema()); err != nil {
				c.Status, c.Reason = StateIncompatible, err.Error()
			}
		}
		out = append(out, c)
	}
	if inst.Keyed != nil {
		for _, t := range inst.Keyed.Tables() {
			if !slices.Contains(keyed, t.Name()) {
				out = append(out, StateCheck{Name: t.Name(), Kind: KindKeyed, Status: StateNew})
			}
		}
	}
	for _, t := range declared {
		if !slices.Contains(lists, t.Name()) {
			out = append(out, StateCheck{Name: t.Name(), Kind: KindOperatorList, Status: StateNew})
		}
	}
	return out
}
