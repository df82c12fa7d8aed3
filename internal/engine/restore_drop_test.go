package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/keyspace"
)

// runSource hands a RestoreSource's keyed entries over as runs of one
// entry, the path restores from savepoint files take (KeyedRunSource).
type runSource struct{ RestoreSource }

func (s runSource) KeyedRuns(id OperatorID, r keyspace.Range, fn func(string, backend.Run) error) error {
	return s.Keyed(id, r, func(state string, e backend.Entry) error {
		return fn(state, backend.Run{Bytes: backend.AppendEncoded(nil, e), N: 1})
	})
}

// TestRestoreDropsUndeclaredState: with DropUndeclared, a keyed state the
// savepoint holds for an operator that no longer declares it is skipped,
// reported once per subtask, and the operator's other state is restored in
// full; entry by entry and in runs.
func TestRestoreDropsUndeclaredState(t *testing.T) {
	ms, all := takeSnapshot(t)
	const p = 3
	for _, c := range []struct {
		name string
		src  RestoreSource
	}{{"entries", ms}, {"runs", runSource{ms}}} {
		t.Run(c.name, func(t *testing.T) {
			rj := newRestoreJob(0, false)
			rj.declareCounts = false
			dropped := restoreDropping(t, rj, p, c.src)
			if want := slices.Repeat([]string{"counter/keyed state count"}, p); !slices.Equal(dropped, want) {
				t.Errorf("dropped %q, want %q (once per subtask)", dropped, want)
			}
			var odd []ownedEntry
			for _, es := range rj.state(t, "odd") {
				odd = append(odd, es...)
			}
			slices.SortFunc(odd, cmpOwned)
			if !slices.Equal(odd, all["odd"]) {
				t.Errorf("state odd: %d entries restored, want all %d", len(odd), len(all["odd"]))
			}
		})
	}
}

// sameNameList adds to a RestoreSource's states an operator list state
// named as its keyed state name, for the operators that hold that state.
type sameNameList struct {
	RestoreSource
	name string
}

func (s sameNameList) States(id OperatorID) (keyed, lists []string) {
	keyed, lists = s.RestoreSource.States(id)
	if slices.Contains(keyed, s.name) {
		lists = append(slices.Clone(lists), s.name)
	}
	return keyed, lists
}

// TestRestoreDropsSameNamedStates: a keyed state and an operator list state
// of one name that the operator no longer declares are reported as two
// states, each with its kind.
func TestRestoreDropsSameNamedStates(t *testing.T) {
	ms, _ := takeSnapshot(t)
	rj := newRestoreJob(0, false)
	rj.declareCounts = false
	dropped := restoreDropping(t, rj, 1, sameNameList{ms, "count"})
	if want := []string{"counter/keyed state count", "counter/operator list state count"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %q, want %q", dropped, want)
	}
}

// restoreDropping starts rj at parallelism p from src with DropUndeclared
// set, cancels it once started, and returns the states dropped, as
// "operator/kind state".
func restoreDropping(t *testing.T, rj *restoreJob, p int, src RestoreSource) []string {
	t.Helper()
	var (
		mu      sync.Mutex
		dropped []string
	)
	j, err := Start(context.Background(), rj.nodes, Options{Parallelism: p, Restore: src,
		DropUndeclared: func(n *Node, kind, state string) {
			mu.Lock()
			defer mu.Unlock()
			dropped = append(dropped, fmt.Sprintf("%s/%s %s", n.Name, kind, state))
		}})
	if err != nil {
		t.Fatal(err)
	}
	j.Cancel()
	if err := j.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return dropped
}
