package engine

import (
	"strings"
	"testing"

	"github.com/weirstream/weir/serde"
)

// otherSchema reports a string value schema for one state of a
// RestoreSource, as a savepoint of another version of the job would.
type otherSchema struct {
	RestoreSource
	state string
}

func (s otherSchema) Schemas(id OperatorID, state string) (key, ns, value []byte) {
	key, ns, value = s.RestoreSource.Schemas(id, state)
	if state == s.state {
		sch, err := serde.SchemaOf[string]()
		if err != nil {
			panic(err)
		}
		value = serde.AppendSchema(nil, sch)
	}
	return key, ns, value
}

// TestCheck: Check opens each operator once, restores nothing, closes what
// it opened, and tells each state's fate: matched, dropped (no longer
// declared), new (not in the snapshot) and incompatible (a serializer that
// cannot read the snapshot's), for keyed state and operator lists.
func TestCheck(t *testing.T) {
	ms, _ := takeSnapshot(t)
	for _, c := range []struct {
		name    string
		src     RestoreSource
		declare bool
		want    []StateCheck
	}{
		{"unchanged", ms, true, []StateCheck{{"count", KindKeyed, StateMatched, ""}, {"odd", KindKeyed, StateMatched, ""}}},
		{"no longer declared", ms, false, []StateCheck{{"count", KindKeyed, StateDropped, ""}, {"odd", KindKeyed, StateMatched, ""}}},
		{"list of the same name", sameNameList{ms, "count"}, true, []StateCheck{{"count", KindKeyed, StateMatched, ""}, {"odd", KindKeyed, StateMatched, ""}, {"count", KindOperatorList, StateDropped, ""}}},
		{"no snapshot", nil, true, []StateCheck{{"count", KindKeyed, StateNew, ""}, {"odd", KindKeyed, StateNew, ""}}},
		{"another type", otherSchema{ms, "odd"}, true, []StateCheck{{"count", KindKeyed, StateMatched, ""}, {"odd", KindKeyed, StateIncompatible, "cannot read the savepoint's data"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rj := newRestoreJob(0, false)
			rj.declareCounts = c.declare
			checks, err := Check(rj.nodes, Options{Parallelism: 3, Restore: c.src})
			if err != nil {
				t.Fatal(err)
			}
			if made, closed := rj.makes.Load(), rj.closes.Load(); made != 2 || closed != 2 {
				t.Errorf("made %d instances and closed %d, want one of each operator, closed", made, closed)
			}
			if len(checks[restoreSrcID]) != 0 {
				t.Errorf("the source has states %+v", checks[restoreSrcID])
			}
			got := checks[restoreCountID]
			if len(got) != len(c.want) {
				t.Fatalf("counter's states %+v, want %+v", got, c.want)
			}
			for i, w := range c.want {
				g := got[i]
				if g.Name != w.Name || g.Kind != w.Kind || g.Status != w.Status || !strings.Contains(g.Reason, w.Reason) || (w.Reason == "") != (g.Reason == "") {
					t.Errorf("state %d: %+v, want %+v", i, g, w)
				}
			}
			if c.src != nil {
				for _, e := range tableEntries(t, rj.backends[0], "odd") {
					t.Fatalf("Check restored entry %+v", e)
				}
			}
		})
	}
	if _, err := Check(nil, Options{}); err == nil {
		t.Error("Check of an empty graph succeeded")
	}
}
