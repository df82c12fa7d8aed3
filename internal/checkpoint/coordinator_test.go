package checkpoint

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/engine"
)

func ack(id uint64, task string, sub int) Ack {
	return Ack{Snapshot: engine.TaskSnapshot{Barrier: engine.Barrier{ID: id}, Task: task, Subtask: sub}}
}

func mustNew(t *testing.T, o Options) *Coordinator {
	t.Helper()
	c, err := New(o, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kinds summarises actions as strings, for compact expectations.
func kinds(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case Inject:
			out = append(out, fmt.Sprintf("inject %d", a.Barrier.ID))
		case Write:
			out = append(out, fmt.Sprintf("write %d (%d tasks)", a.ID, len(a.Tasks)))
		case Completed:
			out = append(out, fmt.Sprintf("completed %d %s", a.ID, a.Path))
		case Aborted:
			out = append(out, fmt.Sprintf("aborted %d", a.ID))
		case Dispose:
			out = append(out, "dispose "+a.Path)
		}
	}
	return out
}

func expect(t *testing.T, got []Action, want ...string) {
	t.Helper()
	if g := kinds(got); !reflect.DeepEqual(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Fatalf("actions %q, want %q", g, want)
	}
}

func TestCompleteAfterAllAcksAndMetadata(t *testing.T) {
	c := mustNew(t, Options{Tasks: 3, Timeout: 100, Retain: 2})
	for i, path := range []string{"cp1", "cp2", "cp3"} {
		id := uint64(i + 1)
		now := int64(i * 1000)
		expect(t, c.Step(Trigger{Now: now, Kind: engine.Checkpoint}), fmt.Sprintf("inject %d", id))
		expect(t, c.Step(ack(id, "a", 0)))
		expect(t, c.Step(ack(id, "a", 1)))
		expect(t, c.Step(Tick{Now: now + 50}))
		expect(t, c.Step(ack(id, "b", 0)), fmt.Sprintf("write %d (3 tasks)", id))
		// Acks complete the collection but not the snapshot: it exists only
		// once its metadata is written.
		if _, ok := c.InFlight(); !ok {
			t.Fatal("snapshot complete before its metadata was written")
		}
		want := []string{fmt.Sprintf("completed %d %s", id, path)}
		if id == 3 {
			want = append(want, "dispose cp1")
		}
		expect(t, c.Step(Written{ID: id, Path: path}), want...)
	}
	if got := c.Retained(); !reflect.DeepEqual(got, []string{"cp2", "cp3"}) {
		t.Fatalf("retained %v", got)
	}
}

func TestTimeoutAbortsAndLateAcksAreIgnored(t *testing.T) {
	c := mustNew(t, Options{Tasks: 2, Timeout: 100})
	expect(t, c.Step(Trigger{Now: 0, Kind: engine.Checkpoint}), "inject 1")
	expect(t, c.Step(ack(1, "a", 0)))
	expect(t, c.Step(Tick{Now: 99}))
	acts := c.Step(Tick{Now: 100})
	expect(t, acts, "aborted 1")
	if !strings.Contains(acts[0].(Aborted).Reason.Error(), "timed out") {
		t.Fatalf("reason %v", acts[0].(Aborted).Reason)
	}
	expect(t, c.Step(ack(1, "a", 1)))                // late: ignored
	expect(t, c.Step(Written{ID: 1, Path: "x"}))     // late: ignored
	expect(t, c.Step(Trigger{Now: 200}), "inject 2") // IDs keep increasing
	expect(t, c.Step(ack(1, "a", 1)))                // stale barrier
	expect(t, c.Step(ack(2, "a", 0)))                //
	expect(t, c.Step(ack(2, "a", 1)), "write 2 (2 tasks)")
	expect(t, c.Step(Tick{Now: 400}), "aborted 2") // a slow write times out too
}

func TestBusyDeclineFailedWrite(t *testing.T) {
	c := mustNew(t, Options{Tasks: 1})
	expect(t, c.Step(Trigger{Kind: engine.Checkpoint}), "inject 1")
	acts := c.Step(Trigger{Kind: engine.Savepoint, Request: 7})
	if a, ok := acts[0].(Aborted); !ok || !errors.Is(a.Reason, ErrBusy) || a.Request != 7 {
		t.Fatalf("second trigger: %#v", acts)
	}
	expect(t, c.Step(Decline{ID: 1, Reason: errors.New("disk full")}), "aborted 1")
	expect(t, c.Step(Trigger{Kind: engine.Savepoint, Dir: "/sp"}), "inject 2")
	expect(t, c.Step(ack(2, "a", 0)), "write 2 (1 tasks)")
	acts = c.Step(Written{ID: 2, Err: errors.New("no space")})
	expect(t, acts, "aborted 2")
	if !strings.Contains(acts[0].(Aborted).Reason.Error(), "no space") {
		t.Fatalf("reason %v", acts[0].(Aborted).Reason)
	}
}

func TestDuplicateAckAborts(t *testing.T) {
	c := mustNew(t, Options{Tasks: 2})
	c.Step(Trigger{Kind: engine.Checkpoint})
	expect(t, c.Step(ack(1, "a", 0)))
	expect(t, c.Step(ack(1, "a", 0)), "aborted 1")
}

func TestSavepointsAreNotRetainedAndStopEndsTriggers(t *testing.T) {
	c := mustNew(t, Options{Tasks: 1, Retain: 1})
	c.Step(Trigger{Kind: engine.Savepoint, Dir: "/sp"})
	c.Step(ack(1, "a", 0))
	expect(t, c.Step(Written{ID: 1, Path: "/sp/savepoint-1"}), "completed 1 /sp/savepoint-1")
	if len(c.Retained()) != 0 {
		t.Fatal("a savepoint was retained as a checkpoint")
	}
	acts := c.Step(Trigger{Kind: engine.Savepoint, Stop: true})
	if b := acts[0].(Inject).Barrier; !b.Stop || b.Kind != engine.Savepoint {
		t.Fatalf("stop barrier %+v", b)
	}
	c.Step(ack(2, "a", 0))
	c.Step(Written{ID: 2, Path: "p2"})
	acts = c.Step(Trigger{Kind: engine.Checkpoint})
	if a, ok := acts[0].(Aborted); !ok || !errors.Is(a.Reason, ErrStopped) {
		t.Fatalf("trigger after stop: %#v", acts)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []Options{{}, {Tasks: 1, Timeout: -1}, {Tasks: 1, Retain: -1}} {
		if _, err := New(o, 0); err == nil {
			t.Fatalf("New(%+v) accepted", o)
		}
	}
	c, _ := New(Options{Tasks: 1}, 41)
	if acts := c.Step(Trigger{}); acts[0].(Inject).Barrier.ID != 42 {
		t.Fatal("IDs do not continue after the restored one")
	}
}
