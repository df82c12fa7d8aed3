package weir

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/engine"
)

// TestDropUndeclaredListsEachKind: the states a restore drops from an
// operator the job has are listed once however many subtasks report them,
// and a keyed state and an operator list of one name are two states.
func TestDropUndeclaredListsEachKind(t *testing.T) {
	c := &JobClient{env: &Environment{logger: slog.New(slog.DiscardHandler)}}
	n := &engine.Node{UID: "keeper", Name: "Keeper"}
	for range 3 { // one report per subtask
		c.dropUndeclared(n, engine.KindKeyed, "seen")
		c.dropUndeclared(n, engine.KindOperatorList, "seen")
		c.dropUndeclared(n, engine.KindKeyed, "count")
	}
	got := c.Skipped()
	if len(got) != 1 || got[0].UID != "keeper" || !got[0].InJob || !slices.Equal(got[0].States, []string{"seen", "seen", "count"}) {
		t.Fatalf("Skipped() = %+v, want the keeper (in the job) with states seen, seen and count", got)
	}
}
