package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/examples/nexmark/queries"
)

// TestRunRejectsBadArguments checks that run refuses bad flags and
// arguments, before running anything, with an error that names the problem.
func TestRunRejectsBadArguments(t *testing.T) {
	out := filepath.Join(t.TempDir(), "never-written.jsonl")
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"zero parallelism", []string{"-p", "0"}, []string{"-p", ">= 1", "0"}},
		{"negative parallelism", []string{"-p", "-3"}, []string{"-p", ">= 1", "-3"}},
		{"negative events", []string{"-events", "-1"}, []string{"-events", ">= 0", "-1"}},
		{"negative rate", []string{"-rate", "-5"}, []string{"-rate", ">= 0", "-5"}},
		{"unknown query", []string{"-query", "q99"}, []string{"unknown query", `"q99"`}},
		{"query q4 is not built", []string{"-query", "q4"}, []string{"unknown query", `"q4"`}},
		{"extra argument", []string{"-query", "q0", "extra"}, []string{"unexpected argument", `"extra"`}},
		{"unknown flag", []string{"-bogus"}, []string{"not defined", "bogus"}},
		{"malformed number", []string{"-events", "lots"}, []string{"-events", "lots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(slices.Clone(tc.args), "-out", out)
			if tc.name == "extra argument" {
				// Flags after the first argument are not parsed.
				args = append([]string{"-out", out}, tc.args...)
			}
			err := run(args)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error", args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run(%q) = %q, want it to mention %q", args, err, w)
				}
			}
			if _, statErr := os.Stat(out); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("run(%q) failed but created %s (stat: %v)", args, out, statErr)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	if err := run([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(-h) = %v, want flag.ErrHelp", err)
	}
}

// TestRunUnwritableOutput checks that a run whose -out file cannot be
// created fails.
func TestRunUnwritableOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no-such-dir", "out.jsonl")
	if err := run([]string{"-query", "q2", "-events", "1000", "-out", out}); err == nil {
		t.Fatalf("run with -out %s = nil, want an error", out)
	}
}

// readLines decodes a JSON-lines file into values of type T, rejecting
// unknown fields.
func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, line, err, sc.Text())
		}
		if dec.More() {
			t.Fatalf("%s:%d: more than one JSON value: %q", path, line, sc.Text())
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("%s does not end with a newline", path)
	}
	return out
}

// bids returns the bids among event numbers [0, n) of the default generator.
func bids(t *testing.T, n int64) []nexmark.Bid {
	t.Helper()
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out []nexmark.Bid
	for i := range n {
		if g.TypeOf(i) == nexmark.EventBid {
			var b nexmark.Bid
			g.Bid(i, &b)
			out = append(out, b)
		}
	}
	return out
}

// sameMultiset fails t unless got and want hold the same elements with the
// same multiplicities.
func sameMultiset[T comparable](t *testing.T, what string, got, want []T, c func(a, b T) int) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, c)
	slices.SortFunc(want, c)
	if slices.Equal(got, want) {
		return
	}
	msg := fmt.Sprintf("%s: got %d results, want %d", what, len(got), len(want))
	shown := 0
	for i := 0; i < max(len(got), len(want)) && shown < 5; i++ {
		var g, w any = "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(got) || i >= len(want) || got[i] != want[i] {
			msg += fmt.Sprintf("\n  sorted row %d: got %+v, want %+v", i, g, w)
			shown++
		}
	}
	t.Error(msg)
}

// TestRunQ2WritesJSONLines runs q2 with -out and checks that the file holds
// one valid JSON object per line, exactly the bids q2's SQL selects
// (auction % 123 == 0), at parallelism 1 and 2.
func TestRunQ2WritesJSONLines(t *testing.T) {
	const events = 200_000
	var want []queries.Q2Result
	for _, b := range bids(t, events) {
		if b.Auction%123 == 0 {
			want = append(want, queries.Q2Result{Auction: b.Auction, Price: b.Price})
		}
	}
	if len(want) == 0 {
		t.Fatalf("q2 over %d events selects nothing; the test is vacuous", events)
	}
	for _, p := range []string{"1", "2"} {
		t.Run("p="+p, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "q2.jsonl")
			if err := run([]string{"-query", "q2", "-events", fmt.Sprint(events), "-p", p, "-out", out}); err != nil {
				t.Fatal(err)
			}
			got := readLines[queries.Q2Result](t, out)
			if len(got) != len(want) {
				t.Errorf("%s has %d lines, want %d (the reference q2 result count)", out, len(got), len(want))
			}
			sameMultiset(t, "q2 -out", got, want, func(a, b queries.Q2Result) int {
				return cmp.Or(cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Price, b.Price))
			})
		})
	}
}

// TestRunQ0JSONRoundTrips runs q0 with -out and checks that every bid,
// including the extra strings (whose characters include '\\' and '`'),
// decodes back to what the generator produced.
func TestRunQ0JSONRoundTrips(t *testing.T) {
	const events = 20_000
	var want []queries.Q0Result
	special := false
	for _, b := range bids(t, events) {
		want = append(want, queries.Q0Result{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra})
		special = special || strings.ContainsAny(b.Extra, `\"`)
	}
	if !special {
		t.Logf("no extra string holds a character JSON must escape")
	}
	out := filepath.Join(t.TempDir(), "q0.jsonl")
	if err := run([]string{"-query", "q0", "-events", fmt.Sprint(events), "-out", out}); err != nil {
		t.Fatal(err)
	}
	got := readLines[queries.Q0Result](t, out)
	sameMultiset(t, "q0 -out", got, want, func(a, b queries.Q0Result) int {
		return cmp.Or(cmp.Compare(a.DateTime, b.DateTime), cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Bidder, b.Bidder),
			cmp.Compare(a.Price, b.Price), strings.Compare(a.Extra, b.Extra))
	})
}

// TestRunQuiet checks that -quiet runs a query to the end without output.
func TestRunQuiet(t *testing.T) {
	if err := run([]string{"-query", "q5", "-events", "50000", "-p", "2", "-quiet"}); err != nil {
		t.Fatal(err)
	}
}
