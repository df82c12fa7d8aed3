package state

import (
	"fmt"

	"github.com/weirstream/weir/internal/backend/opstate"
)

// OperatorStore gives a non-keyed function access to its operator state:
// state that belongs to the operator subtask as a whole rather than to a
// key. The runtime implements it.
type OperatorStore interface {
	// OperatorBackend returns the backend holding the subtask's operator
	// state. It is the runtime's concern; functions do not call it.
	OperatorBackend() *opstate.Backend
}

// Redistribution says how an operator list is divided among subtasks when a
// job is restored at another parallelism.
type Redistribution = opstate.Mode

const (
	// EvenSplit deals all subtasks' elements into near-equal parts.
	EvenSplit Redistribution = opstate.EvenSplit
	// Union gives every subtask every element.
	Union Redistribution = opstate.Union
)

// GetOperatorList returns the operator list state described by d (TTL does
// not apply to operator state).
func GetOperatorList[T any](s OperatorStore, d ListDescriptor[T], mode Redistribution) (List[T], error) {
	if d.Name == "" {
		return nil, errNoName
	}
	if d.TTL.Duration != 0 {
		return nil, fmt.Errorf("state %q: operator state has no TTL", d.Name)
	}
	ser, err := serOr(d.Serializer)
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", d.Name, err)
	}
	return opstate.NewList(s.OperatorBackend(), d.Name, mode, ser)
}
