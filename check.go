package weir

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/weirstream/weir/internal/engine"
)

// CheckReport tells whether and how a job would restore from a snapshot,
// found without running it (Environment.Check, weir check).
type CheckReport struct {
	// Snapshot is the snapshot's directory.
	Snapshot string `json:"snapshot"`
	// AllowNonRestoredState is whether the restore may drop state that no
	// operator of the job matches or declares (-n).
	AllowNonRestoredState bool `json:"allow_non_restored_state"`
	// Restores reports whether the restore would succeed; Problems says
	// why not, one line each.
	Restores bool     `json:"restores"`
	Problems []string `json:"problems,omitempty"`
	// Operators are the job's operators, in the job's order, then the
	// snapshot's operators the job does not have.
	Operators []CheckedOperator `json:"operators"`
}

// CheckedOperator is one operator of a CheckReport.
type CheckedOperator struct {
	ID   string `json:"id"`
	UID  string `json:"uid,omitempty"`
	Name string `json:"name"`
	// Status is "matched" (the job and the snapshot have it), "new" (only
	// the job: it starts empty) or "dropped" (only the snapshot: its state
	// needs --allow-non-restored-state, which drops it).
	Status string `json:"status"`
	// SnapshotParallelism and Parallelism are the operator's parallelism
	// in the snapshot and in the job (0: it is not there).
	SnapshotParallelism int            `json:"snapshot_parallelism,omitempty"`
	Parallelism         int            `json:"parallelism,omitempty"`
	States              []CheckedState `json:"states,omitempty"`
	// RestoresFrom and RestoresFromUID are the ID and UID of the snapshot's
	// operator whose state a matched operator takes, when a UID map
	// (WithUIDMap) gave it another operator's ("" otherwise).
	RestoresFrom    string `json:"restores_from,omitempty"`
	RestoresFromUID string `json:"restores_from_uid,omitempty"`
}

// CheckedState is one state of a CheckedOperator.
type CheckedState struct {
	Name string `json:"name"`
	// Kind is "keyed state" or "operator list state".
	Kind string `json:"kind"`
	// Status is "matched" (restored), "new" (only the job declares it: it
	// starts empty), "dropped" (only the snapshot has it) or
	// "incompatible" (the job's serializer cannot read it; Reason says why)
	// or "unreadable" (a data file of it is missing, truncated, not a data
	// file or cannot be opened: the restore would fail; Reason says which).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// The statuses of CheckedOperator and CheckedState.
const (
	CheckMatched      = engine.StateMatched
	CheckNew          = engine.StateNew
	CheckDropped      = engine.StateDropped
	CheckIncompatible = engine.StateIncompatible
	// CheckUnreadable: a data file of a state the job would restore is
	// missing, shorter than its index says, not a data file or cannot be
	// opened, so the restore would fail.
	CheckUnreadable = "unreadable"
)

// Check tells whether and how the job built on e would restore from the
// snapshot FromSavepoint names, at the job's parallelism, without running
// it: it matches operators by ID as a restore does, opens each operator
// once, as a restore does, to learn the states it declares, and compares
// them and their serializers with the snapshot's. It also checks what a
// restore checks as it opens the data files of the keyed states it would
// restore (each is there, is a data file, and is as long as its index
// says), without reading their blocks: weir inspect --verify reads them
// all. Nothing is restored, processed or written; operators are closed
// again. It fails only if the check itself cannot be made (no
// FromSavepoint, an unreadable snapshot, an operator that fails to open):
// what would fail the restore is in the report.
func (e *Environment) Check() (*CheckReport, error) {
	if err := e.prepare(); err != nil {
		return nil, err
	}
	if e.restore == nil {
		return nil, errors.New("weir: nothing to check: give the snapshot to restore from (-s/--from-savepoint, weir.FromSavepoint)")
	}
	fs, err := e.openSnapshot(e.restore.path)
	if err != nil {
		return nil, fmt.Errorf("weir: cannot check: %w%s", err, damagedRemedy(err))
	}
	if err := fs.remap(e.restore.uidMap, e.nodes); err != nil {
		return nil, fmt.Errorf("weir: cannot check against %s: %w", fs.s.Dir(), err)
	}
	plan, err := engine.Compile(e.nodes, e.parallelism)
	if err != nil {
		return nil, err
	}
	states, err := engine.Check(e.nodes, engine.Options{Parallelism: e.parallelism, Clock: e.clock, Logger: e.logger, Restore: fs})
	if err != nil {
		return nil, fmt.Errorf("weir: cannot check: %w", err)
	}
	r := &CheckReport{Snapshot: fs.s.Dir(), AllowNonRestoredState: e.restore.allowNonRestored}
	for _, n := range e.nodes {
		op := CheckedOperator{ID: n.ID.String(), UID: n.UID, Name: n.Name, Status: CheckNew, Parallelism: plan.Parallelism[n]}
		if md := fs.ops[n.ID]; md != nil {
			op.Status, op.SnapshotParallelism = CheckMatched, md.Parallelism
			if id := engine.OperatorID(md.ID); id != n.ID {
				op.RestoresFrom = id.String()
				op.RestoresFromUID = md.UID
			}
		}
		for _, s := range states[n.ID] {
			cs := CheckedState{Name: s.Name, Kind: s.Kind, Status: s.Status, Reason: s.Reason}
			if md := fs.ops[n.ID]; md != nil && s.Status == CheckMatched && s.Kind == engine.KindKeyed {
				// What a restore checks as it opens the state's files.
				if err := fs.s.CheckFiles(md.ID, s.Name); err != nil {
					cs.Status, cs.Reason = CheckUnreadable, err.Error()+damagedRemedy(err)
				}
			}
			op.States = append(op.States, cs)
			switch {
			case cs.Status == CheckUnreadable:
				r.Problems = append(r.Problems, fmt.Sprintf("operator %s (uid %s, name %q) %s %q cannot be restored: %s",
					op.ID, orNone(op.UID), op.Name, s.Kind, s.Name, cs.Reason))
			case s.Status == CheckIncompatible:
				r.Problems = append(r.Problems, s.Reason)
			case s.Status == CheckDropped && !r.AllowNonRestoredState:
				if op.RestoresFrom != "" {
					r.Problems = append(r.Problems, fmt.Sprintf("operator %s (uid %s, name %q), given the state of operator %s (uid %s) by --uid-map, does not declare its %s %q: map the right operator to it, declare the state, or restore with --allow-non-restored-state (-n) to drop it",
						op.ID, orNone(op.UID), op.Name, op.RestoresFrom, orNone(op.RestoresFromUID), s.Kind, s.Name))
					break
				}
				r.Problems = append(r.Problems, fmt.Sprintf("operator %s (uid %s, name %q) no longer declares %s %q: declare it again, or restore with --allow-non-restored-state (-n) to drop it",
					op.ID, orNone(op.UID), op.Name, s.Kind, s.Name))
			}
		}
		r.Operators = append(r.Operators, op)
	}
	inJob := map[engine.OperatorID]bool{}
	for _, n := range e.nodes {
		inJob[n.ID] = true
	}
	for _, md := range fs.s.Metadata().Operators {
		id := engine.OperatorID(md.ID)
		if inJob[fs.restoredAs(id)] {
			continue
		}
		op := CheckedOperator{ID: id.String(), UID: md.UID, Name: md.Name, Status: CheckDropped, SnapshotParallelism: md.Parallelism}
		for _, st := range md.States {
			kind := engine.KindKeyed
			if st.Kind.IsOperatorList() {
				kind = engine.KindOperatorList
			}
			op.States = append(op.States, CheckedState{Name: st.Name, Kind: kind, Status: CheckDropped})
		}
		if !r.AllowNonRestoredState {
			r.Problems = append(r.Problems, fmt.Sprintf("the job has no operator %s (uid %s, name %q) with state %s: give it its old UID, map it to an operator of the job with --uid-map OLD=NEW, or restore with --allow-non-restored-state (-n) to drop it",
				op.ID, orNone(op.UID), op.Name, strings.Join(stateNames(op.States), ", ")))
		}
		r.Operators = append(r.Operators, op)
	}
	r.Restores = len(r.Problems) == 0
	return r, nil
}

// Verdict says in one line whether the job would restore, naming the first
// problem if not.
func (r *CheckReport) Verdict() string {
	switch len(r.Problems) {
	case 0:
		return "the job would restore from " + r.Snapshot
	case 1:
		return fmt.Sprintf("the job would not restore from %s: %s", r.Snapshot, r.Problems[0])
	case 2:
		return fmt.Sprintf("the job would not restore from %s: %s (and 1 more problem)", r.Snapshot, r.Problems[0])
	}
	return fmt.Sprintf("the job would not restore from %s: %s (and %d more problems)", r.Snapshot, r.Problems[0], len(r.Problems)-1)
}

// JSON returns the report as indented JSON.
func (r *CheckReport) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

func orNone(uid string) string {
	if uid == "" {
		return "(none)"
	}
	return uid
}

func stateNames(states []CheckedState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.Name
	}
	return out
}
