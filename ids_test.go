package weir_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/window"
)

// idJob builds a small job; opts tweak it in ways that must not change IDs.
type idJob struct {
	uidOnProcess  string
	hashOnMap     string
	disableChain  bool
	mapParallel   int
	sinkName      string
	extraBranch   bool
	duplicateUIDs bool
}

func buildIDJob(env *weir.Environment, j idJob) {
	src := weir.FromSource(env, memory.NewSource([]kv{{"a", 1, 1}}, memory.WithTimestamps(kvTS)), weir.BoundedOutOfOrderness[kv](0)).Name("src")
	m := weir.Map(src, func(r kv) kv { return r }).Name("map")
	if j.disableChain {
		m = m.DisableChaining()
	}
	if j.mapParallel > 0 {
		m = m.Parallelism(j.mapParallel)
	}
	if j.hashOnMap != "" {
		m = m.UIDHash(j.hashOnMap)
	}
	p := weir.Process(weir.KeyBy(m, kvKey), weir.ProcessFunc[string, kv, kv](func(_ *weir.KeyedContext[string], r kv, out weir.Collector[kv]) error {
		out.Collect(r)
		return nil
	})).Name("proc")
	if j.uidOnProcess != "" {
		p = p.UID(j.uidOnProcess)
	}
	w := weir.WindowAggregate(weir.KeyBy(p, kvKey).Window(window.TumblingEventTime(time.Second)), countAgg[kv]{}).Name("win")
	if j.duplicateUIDs {
		w = w.UID(j.uidOnProcess)
	}
	name := "sink"
	if j.sinkName != "" {
		name = j.sinkName
	}
	weir.To(w, memory.NewSink[int64]()).Name(name)
	if j.extraBranch {
		// Two maps of the same shape on the same input: siblings get
		// distinct IDs by rank.
		weir.To(weir.Map(src, func(r kv) int64 { return r.V }), memory.NewSink[int64]())
		weir.To(weir.Map(src, func(r kv) int64 { return -r.V }), memory.NewSink[int64]())
	}
}

func planIDs(t *testing.T, j idJob) map[string]string {
	t.Helper()
	env := newEnv(weir.WithParallelism(2))
	buildIDJob(env, j)
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for i, n := range plan {
		key := n.Name
		if _, dup := ids[key]; dup {
			key += "#" + string(rune('0'+i))
		}
		ids[key] = n.ID
	}
	return ids
}

func TestOperatorIDsAreStable(t *testing.T) {
	base := planIDs(t, idJob{})
	for name, id := range base {
		if len(id) != 32 {
			t.Fatalf("%s has ID %q, want 32 hex digits", name, id)
		}
	}
	// Neither rebuilding, chaining, parallelism nor display names change
	// any operator's ID.
	for _, j := range []idJob{{}, {disableChain: true}, {mapParallel: 3}} {
		got := planIDs(t, j)
		for name, id := range base {
			if got[name] != id {
				t.Errorf("%+v: %s has ID %s, want %s", j, name, got[name], id)
			}
		}
	}
	renamed := planIDs(t, idJob{sinkName: "renamed"})
	if renamed["renamed"] != base["sink"] {
		t.Errorf("renaming the sink changed its ID from %s to %s", base["sink"], renamed["renamed"])
	}
	// The IDs of distinct operators are distinct.
	seen := map[string]string{}
	for name, id := range planIDs(t, idJob{extraBranch: true}) {
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s share ID %s", name, other, id)
		}
		seen[id] = name
	}
}

func TestUIDGivesUIDHash(t *testing.T) {
	ids := planIDs(t, idJob{uidOnProcess: "my-process"})
	want := weir.UIDHash("my-process")
	if ids["proc"] != hex.EncodeToString(want[:]) {
		t.Fatalf("proc has ID %s, want UIDHash(\"my-process\") = %x", ids["proc"], want)
	}
	// A UID upstream changes the derived IDs downstream, not upstream.
	base := planIDs(t, idJob{})
	if ids["src"] != base["src"] || ids["map"] != base["map"] {
		t.Errorf("a UID on proc changed the IDs of its inputs")
	}
	// UIDHash is part of the savepoint format: its values never change.
	// These are MurmurHash3_x64_128 with seed 0, h1 then h2 big-endian,
	// checked against an independent implementation.
	golden := map[string]string{
		"":                                "00000000000000000000000000000000",
		"bids":                            "94a8393789c1793f49ee5e506d3822c7",
		"auction":                         "42bbae72f71334a21396fc98a2ebfb08",
		"a-uid-longer-than-sixteen-bytes": "d14f33ba54f9e41df25dbbc2ece3f584",
	}
	for uid, want := range golden {
		got := weir.UIDHash(uid)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("UIDHash(%q) = %x, want %s", uid, got, want)
		}
	}
}

func TestDuplicateUIDs(t *testing.T) {
	env := newEnv()
	buildIDJob(env, idJob{uidOnProcess: "same", duplicateUIDs: true})
	_, err := env.Plan()
	if err == nil || !strings.Contains(err.Error(), `both have UID "same"`) {
		t.Fatalf("Plan = %v, want a duplicate UID error", err)
	}
	if err := env.Execute(t.Context(), "dup"); err == nil || !strings.Contains(err.Error(), "same") {
		t.Fatalf("Execute = %v, want a duplicate UID error", err)
	}
}

func TestUIDHashPinsID(t *testing.T) {
	const pinned = "0123456789abcdef0123456789ABCDEF"
	ids := planIDs(t, idJob{hashOnMap: pinned})
	if ids["map"] != strings.ToLower(pinned) {
		t.Fatalf("map has ID %s, want %s", ids["map"], strings.ToLower(pinned))
	}
	env := newEnv()
	buildIDJob(env, idJob{hashOnMap: pinned})
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if plan[1].UID != "#"+pinned {
		t.Errorf("pinned operator shows UID %q", plan[1].UID)
	}
	for _, bad := range []string{"xyz", "0123", pinned + "00", pinned[:31] + "g"} {
		env := newEnv()
		buildIDJob(env, idJob{hashOnMap: bad})
		if _, err := env.Plan(); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
			t.Errorf("UIDHash(%q): Plan = %v", bad, err)
		}
	}
	// A pinned ID that collides with a UID's hash is rejected.
	h := weir.UIDHash("proc-uid")
	env = newEnv()
	buildIDJob(env, idJob{hashOnMap: hex.EncodeToString(h[:]), uidOnProcess: "proc-uid"})
	if _, err := env.Plan(); err == nil || !strings.Contains(err.Error(), "have the same ID") {
		t.Fatalf("Plan = %v, want an ID collision error", err)
	}
}

func TestPlanJSON(t *testing.T) {
	env := newEnv(weir.WithParallelism(2))
	buildIDJob(env, idJob{uidOnProcess: "p"})
	b, err := env.PlanJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Operators []weir.PlanNode `json:"operators"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	plan, _ := env.Plan()
	if len(doc.Operators) != len(plan) {
		t.Fatalf("JSON has %d operators, plan %d", len(doc.Operators), len(plan))
	}
	for i := range plan {
		if doc.Operators[i].ID != plan[i].ID || doc.Operators[i].ChainHead != plan[i].ChainHead || len(doc.Operators[i].Inputs) != len(plan[i].Inputs) {
			t.Errorf("operator %d: JSON %+v, plan %+v", i, doc.Operators[i], plan[i])
		}
	}
	if doc.Operators[2].UID != "p" || doc.Operators[2].Inputs[0].Partition != "HASH" || doc.Operators[2].Inputs[0].ID != plan[1].ID {
		t.Errorf("keyed operator in JSON: %+v", doc.Operators[2])
	}
}

func TestStatefulOperatorWithoutUIDWarns(t *testing.T) {
	var buf bytes.Buffer
	env := weir.NewEnvironment(weir.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	buildIDJob(env, idJob{uidOnProcess: "p"})
	if _, err := env.Plan(); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	for _, op := range []string{"operator=src", "operator=win"} {
		if !strings.Contains(logs, op) {
			t.Errorf("no warning for %s:\n%s", op, logs)
		}
	}
	for _, op := range []string{"operator=map", "operator=proc", "operator=sink"} {
		if strings.Contains(logs, op) {
			t.Errorf("unexpected warning for %s:\n%s", op, logs)
		}
	}
}
