package queries

// An independent reference implementation of the Nexmark queries, written
// from the SQL of the Flink nexmark suite (shared NEXMARK.md, section 2) in
// plain Go: it reads the generator's events by event number and computes
// each query's result multiset with maps and sorting, without any weir API.
// The tests run the weir jobs and compare their output with it exactly.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/memory"
	"github.com/weirstream/weir/connector/nexmark"
)

// Window sizes of the Flink SQL suite, in milliseconds.
const (
	refTumble     = 10_000 // q7, q8: TUMBLE(..., INTERVAL '10' SECOND)
	refHopSize    = 10_000 // q5: HOP(..., INTERVAL '2' SECOND, INTERVAL '10' SECOND)
	refHopSlide   = 2_000
	refSessionGap = 10_000 // q11: SESSION(..., INTERVAL '10' SECOND)
)

// refEvents holds the persons, auctions and bids among event numbers
// [0, n), in event-number order.
type refEvents struct {
	persons  []nexmark.Person
	auctions []nexmark.Auction
	bids     []nexmark.Bid
}

type refKey struct {
	cfg nexmark.Config
	n   int64
}

var (
	refMu    sync.Mutex
	refCache = map[refKey]*refEvents{}
)

// loadEvents returns the events 0..n-1 of a generator with configuration
// cfg, generated once per (cfg, n) and shared by the tests (read only).
func loadEvents(t testing.TB, cfg nexmark.Config, n int64) *refEvents {
	t.Helper()
	refMu.Lock()
	defer refMu.Unlock()
	if ev, ok := refCache[refKey{cfg, n}]; ok {
		return ev
	}
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := &refEvents{}
	for i := int64(0); i < n; i++ {
		switch g.TypeOf(i) {
		case nexmark.EventPerson:
			var p nexmark.Person
			g.Person(i, &p)
			ev.persons = append(ev.persons, p)
		case nexmark.EventAuction:
			var a nexmark.Auction
			g.Auction(i, &a)
			ev.auctions = append(ev.auctions, a)
		case nexmark.EventBid:
			var b nexmark.Bid
			g.Bid(i, &b)
			ev.bids = append(ev.bids, b)
		default:
			t.Fatalf("event %d has unknown type %v", i, g.TypeOf(i))
		}
	}
	refCache[refKey{cfg, n}] = ev
	return ev
}

// floorTo returns the largest multiple of m that is <= t.
func floorTo(t, m int64) int64 {
	r := t % m
	if r < 0 {
		r += m
	}
	return t - r
}

// refQ0: SELECT auction, bidder, price, dateTime, extra FROM bid.
func refQ0(ev *refEvents) []Q0Result {
	out := make([]Q0Result, 0, len(ev.bids))
	for _, b := range ev.bids {
		out = append(out, Q0Result{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra})
	}
	return out
}

// refQ1: SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid.
func refQ1(ev *refEvents) []Q1Result {
	out := make([]Q1Result, 0, len(ev.bids))
	for _, b := range ev.bids {
		out = append(out, Q1Result{Auction: b.Auction, Bidder: b.Bidder, Price: 0.908 * float64(b.Price), DateTime: b.DateTime, Extra: b.Extra})
	}
	return out
}

// refQ2: SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0.
func refQ2(ev *refEvents) []Q2Result {
	var out []Q2Result
	for _, b := range ev.bids {
		if b.Auction%123 == 0 {
			out = append(out, Q2Result{Auction: b.Auction, Price: b.Price})
		}
	}
	return out
}

// refQ3: SELECT P.name, P.city, P.state, A.id FROM auction A INNER JOIN
// person P ON A.seller = P.id WHERE A.category = 10 AND P.state IN
// ('OR', 'ID', 'CA'): every matching pair, whatever the arrival order.
func refQ3(ev *refEvents) []Q3Result {
	byID := map[int64][]nexmark.Person{}
	for _, p := range ev.persons {
		if p.State == "OR" || p.State == "ID" || p.State == "CA" {
			byID[p.ID] = append(byID[p.ID], p)
		}
	}
	var out []Q3Result
	for _, a := range ev.auctions {
		if a.Category != 10 {
			continue
		}
		for _, p := range byID[a.Seller] {
			out = append(out, Q3Result{Name: p.Name, City: p.City, State: p.State, ID: a.ID})
		}
	}
	return out
}

// refQ5: per HOP window (10 s, sliding 2 s) the auctions whose bid count is
// at least (that is, equal to) the window's largest count.
func refQ5(ev *refEvents) []Q5Result {
	type key struct{ start, auction int64 }
	counts := map[key]int64{}
	for _, b := range ev.bids {
		// Windows [s, s+10000) with s a multiple of 2000 and s <= t < s+10000.
		for s := floorTo(b.DateTime, refHopSlide); s > b.DateTime-refHopSize; s -= refHopSlide {
			counts[key{s, b.Auction}]++
		}
	}
	maxn := map[int64]int64{}
	for k, n := range counts {
		maxn[k.start] = max(maxn[k.start], n)
	}
	var out []Q5Result
	for k, n := range counts {
		if n >= maxn[k.start] {
			out = append(out, Q5Result{Auction: k.auction, Num: n, WindowStart: k.start, WindowEnd: k.start + refHopSize})
		}
	}
	return out
}

// refQ7: bids B joined with the TUMBLE(10 s) maxima B1 on B.price =
// B1.maxprice AND B.dateTime BETWEEN B1.window_end - 10 s AND B1.window_end
// (inclusive at both ends).
func refQ7(ev *refEvents) []Q7Result {
	maxPrice := map[int64]int64{} // window start -> max price
	for _, b := range ev.bids {
		s := floorTo(b.DateTime, refTumble)
		if m, ok := maxPrice[s]; !ok || b.Price > m {
			maxPrice[s] = b.Price
		}
	}
	var out []Q7Result
	for _, b := range ev.bids {
		for start, m := range maxPrice {
			end := start + refTumble
			if b.Price == m && start <= b.DateTime && b.DateTime <= end {
				out = append(out, Q7Result{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra, WindowStart: start, WindowEnd: end})
			}
		}
	}
	return out
}

// refQ8: persons grouped by (id, name, TUMBLE 10 s) joined with auctions
// grouped by (seller, TUMBLE 10 s) on id = seller and the same window.
func refQ8(ev *refEvents) []Q8Result {
	type sellerWin struct{ seller, start int64 }
	sellers := map[sellerWin]bool{}
	for _, a := range ev.auctions {
		sellers[sellerWin{a.Seller, floorTo(a.DateTime, refTumble)}] = true
	}
	type personWin struct {
		id    int64
		name  string
		start int64
	}
	groups := map[personWin]bool{}
	for _, p := range ev.persons {
		groups[personWin{p.ID, p.Name, floorTo(p.DateTime, refTumble)}] = true
	}
	var out []Q8Result
	for g := range groups {
		if sellers[sellerWin{g.id, g.start}] {
			out = append(out, Q8Result{ID: g.id, Name: g.name, WindowStart: g.start, WindowEnd: g.start + refTumble})
		}
	}
	return out
}

// refQ11: per bidder, SESSION(dateTime, 10 s) windows: bids at t1 <= t2
// (consecutive in time) share a session iff t2 - t1 <= 10 s (the windows
// [t, t+gap) overlap or touch); a session runs from its first bid to its
// last bid + 10 s.
func refQ11(ev *refEvents) []Q11Result {
	times := map[int64][]int64{}
	for _, b := range ev.bids {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	var out []Q11Result
	for bidder, ts := range times {
		slices.Sort(ts)
		first, last, n := ts[0], ts[0], int64(1)
		for _, t := range ts[1:] {
			if t-last > refSessionGap {
				out = append(out, Q11Result{Bidder: bidder, BidCount: n, WindowStart: first, WindowEnd: last + refSessionGap})
				first, n = t, 0
			}
			last = t
			n++
		}
		out = append(out, Q11Result{Bidder: bidder, BidCount: n, WindowStart: first, WindowEnd: last + refSessionGap})
	}
	return out
}

// Orders of the result types, field by field, for sorting multisets.

func cmpQ0(a, b Q0Result) int {
	return cmp.Or(cmp.Compare(a.DateTime, b.DateTime), cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Bidder, b.Bidder),
		cmp.Compare(a.Price, b.Price), strings.Compare(a.Extra, b.Extra))
}

func cmpQ1(a, b Q1Result) int {
	return cmp.Or(cmp.Compare(a.DateTime, b.DateTime), cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Bidder, b.Bidder),
		cmp.Compare(a.Price, b.Price), strings.Compare(a.Extra, b.Extra))
}

func cmpQ2(a, b Q2Result) int {
	return cmp.Or(cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Price, b.Price))
}

func cmpQ3(a, b Q3Result) int {
	return cmp.Or(cmp.Compare(a.ID, b.ID), strings.Compare(a.Name, b.Name), strings.Compare(a.City, b.City), strings.Compare(a.State, b.State))
}

func cmpQ5(a, b Q5Result) int {
	return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.WindowEnd, b.WindowEnd), cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Num, b.Num))
}

func cmpQ7(a, b Q7Result) int {
	return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.WindowEnd, b.WindowEnd), cmp.Compare(a.DateTime, b.DateTime),
		cmp.Compare(a.Auction, b.Auction), cmp.Compare(a.Bidder, b.Bidder), cmp.Compare(a.Price, b.Price), strings.Compare(a.Extra, b.Extra))
}

func cmpQ8(a, b Q8Result) int {
	return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.WindowEnd, b.WindowEnd), cmp.Compare(a.ID, b.ID), strings.Compare(a.Name, b.Name))
}

func cmpQ11(a, b Q11Result) int {
	return cmp.Or(cmp.Compare(a.Bidder, b.Bidder), cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.WindowEnd, b.WindowEnd), cmp.Compare(a.BidCount, b.BidCount))
}

// runJob runs query q over event numbers [0, n) of a generator with
// configuration gen at parallelism p and returns everything its sink
// received.
func runJob[T any](t testing.TB, name string, q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[T], error), gen nexmark.Config, n int64, p int) []T {
	t.Helper()
	cfg := nexmark.DefaultSourceConfig()
	cfg.Generator, cfg.Events = gen, n
	env := weir.NewEnvironment(weir.WithParallelism(p))
	s, err := q(env, cfg)
	if err != nil {
		t.Fatalf("%s: building the job: %v", name, err)
	}
	sink := memory.NewSink[T]()
	weir.To(s, sink).Name("results")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := env.Execute(ctx, name); err != nil {
		t.Fatalf("%s at parallelism %d: %v", name, p, err)
	}
	return sink.Results()
}

// sortedCopy returns xs sorted by c, leaving xs alone.
func sortedCopy[T any](xs []T, c func(a, b T) int) []T {
	out := slices.Clone(xs)
	slices.SortFunc(out, c)
	return out
}

// diffMultisets returns the elements of got missing from want and those of
// want missing from got (with multiplicity), both sorted by c; got and want
// must be sorted.
func diffMultisets[T any](got, want []T, c func(a, b T) int) (extra, missing []T) {
	i, j := 0, 0
	for i < len(got) && j < len(want) {
		switch d := c(got[i], want[j]); {
		case d == 0:
			i++
			j++
		case d < 0:
			extra = append(extra, got[i])
			i++
		default:
			missing = append(missing, want[j])
			j++
		}
	}
	extra = append(extra, got[i:]...)
	missing = append(missing, want[j:]...)
	return extra, missing
}

// maxShown bounds the differences a failed comparison prints.
const maxShown = 8

// checkMultiset fails t unless got and want hold the same elements with the
// same multiplicities; it prints the counts and the first differences.
func checkMultiset[T comparable](t testing.TB, what string, got, want []T, c func(a, b T) int) {
	t.Helper()
	g, w := sortedCopy(got, c), sortedCopy(want, c)
	if slices.Equal(g, w) {
		return
	}
	extra, missing := diffMultisets(g, w, c)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: got %d results, want %d; %d unexpected, %d missing", what, len(g), len(w), len(extra), len(missing))
	for i, e := range extra {
		if i == maxShown {
			fmt.Fprintf(&sb, "\n  ... %d more unexpected", len(extra)-maxShown)
			break
		}
		fmt.Fprintf(&sb, "\n  unexpected: %+v", e)
	}
	for i, m := range missing {
		if i == maxShown {
			fmt.Fprintf(&sb, "\n  ... %d more missing", len(missing)-maxShown)
			break
		}
		fmt.Fprintf(&sb, "\n  missing:    %+v", m)
	}
	t.Error(sb.String())
}

// queryCase is one query with its reference, its order, the generator
// configuration and the number of events it is tested on.
type queryCase struct {
	name  string // the query: "q0", ...
	label string // the case: the query, plus the configuration if not the default
	gen   nexmark.Config
	// events is the number of events (all kinds) the query runs on; short
	// is used under -short.
	events, short int64
	// compare runs the job over events [0, n) at parallelism p, compares
	// it with the reference and returns the number of results.
	compare func(t *testing.T, gen nexmark.Config, n int64, p int) int
	// reference returns the reference results (a []QnResult).
	reference func(ev *refEvents) any
	// sameAcross runs the job at each parallelism of ps and compares each
	// run's result multiset with the first's.
	sameAcross func(t *testing.T, gen nexmark.Config, n int64, ps []int)
}

func makeCase[T comparable](name, label string, gen nexmark.Config, events, short int64,
	q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[T], error),
	ref func(*refEvents) []T, c func(a, b T) int) queryCase {
	return queryCase{
		name: name, label: label, gen: gen, events: events, short: short,
		compare: func(t *testing.T, gen nexmark.Config, n int64, p int) int {
			want := ref(loadEvents(t, gen, n))
			got := runJob(t, name, q, gen, n, p)
			checkMultiset(t, fmt.Sprintf("%s, %d events, parallelism %d", label, n, p), got, want, c)
			if len(want) == 0 {
				t.Errorf("%s over %d events: the reference result is empty; the comparison is vacuous", label, n)
			}
			return len(got)
		},
		reference: func(ev *refEvents) any { return ref(ev) },
		sameAcross: func(t *testing.T, gen nexmark.Config, n int64, ps []int) {
			base := runJob(t, name, q, gen, n, ps[0])
			if len(base) == 0 {
				t.Errorf("%s over %d events at parallelism %d: no results", label, n, ps[0])
			}
			for _, p := range ps[1:] {
				got := runJob(t, name, q, gen, n, p)
				checkMultiset(t, fmt.Sprintf("%s, %d events, parallelism %d vs %d", label, n, p, ps[0]), got, base, c)
			}
		},
	}
}

// slowConfig is the default generator at 200 events per second of event
// time instead of 10,000. At the default rate a person bids only for the
// ~5 s it is among the 1,000 active people, so no bidder ever has a 10 s
// gap and q11 never splits a session; at 200 events/s most bidders have
// several sessions and some consecutive bids are exactly 10 s apart (the
// windows touch and merge).
func slowConfig() nexmark.Config {
	cfg := nexmark.DefaultConfig()
	cfg.FirstEventRate = 200
	return cfg
}

// cases lists every query with its event count. At the default rate of
// 10,000 events/s, n events span n/10 ms of event time: q5, q7 and q11 see
// 20 s (14 hop windows, two tumbling windows), q3 and q8 see 50 s
// (10,000 persons, 30,000 auctions: five tumbling windows). q11 also runs
// at 200 events/s (500 s of event time) to split sessions.
var cases = []queryCase{
	makeCase("q0", "q0", nexmark.DefaultConfig(), 100_000, 20_000, Q0, refQ0, cmpQ0),
	makeCase("q1", "q1", nexmark.DefaultConfig(), 100_000, 20_000, Q1, refQ1, cmpQ1),
	makeCase("q2", "q2", nexmark.DefaultConfig(), 200_000, 50_000, Q2, refQ2, cmpQ2),
	makeCase("q3", "q3", nexmark.DefaultConfig(), 500_000, 200_000, Q3, refQ3, cmpQ3),
	makeCase("q5", "q5", nexmark.DefaultConfig(), 200_000, 150_000, Q5, refQ5, cmpQ5),
	makeCase("q7", "q7", nexmark.DefaultConfig(), 200_000, 150_000, Q7, refQ7, cmpQ7),
	makeCase("q8", "q8", nexmark.DefaultConfig(), 500_000, 200_000, Q8, refQ8, cmpQ8),
	makeCase("q11", "q11", nexmark.DefaultConfig(), 200_000, 100_000, Q11, refQ11, cmpQ11),
	makeCase("q11", "q11-rate200", slowConfig(), 100_000, 50_000, Q11, refQ11, cmpQ11),
}

func (qc queryCase) n() int64 {
	if testing.Short() {
		return qc.short
	}
	return qc.events
}

// TestQueriesMatchReference runs every query at parallelism 1 and 4 and
// compares its result multiset with the reference.
func TestQueriesMatchReference(t *testing.T) {
	for _, qc := range cases {
		for _, p := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/p=%d", qc.label, p), func(t *testing.T) {
				start := time.Now()
				got := qc.compare(t, qc.gen, qc.n(), p)
				t.Logf("%s: %d events, parallelism %d: %d results in %v", qc.label, qc.n(), p, got, time.Since(start).Round(time.Millisecond))
			})
		}
	}
}

// TestReferenceNonEmpty checks that every query has results for the events
// it is tested on, so that the comparisons are not vacuous, and that the
// data reaches the cases that matter: several windows, ties for the
// maximum (q5), auctions that arrive before their seller (q3), bidders with
// several sessions and sessions merged across an exact 10 s gap (q11).
func TestReferenceNonEmpty(t *testing.T) {
	atLeast := func(label, what string, got, want int) {
		t.Helper()
		t.Logf("%s: %s: %d", label, what, got)
		if got < want {
			t.Errorf("%s: %s: %d, want at least %d", label, what, got, want)
		}
	}
	distinct := func(xs []int64) int {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return len(slices.Compact(xs))
	}
	for _, qc := range cases {
		ev := loadEvents(t, qc.gen, qc.n())
		t.Logf("%s: %d events: %d persons, %d auctions, %d bids", qc.label, qc.n(), len(ev.persons), len(ev.auctions), len(ev.bids))
		switch r := qc.reference(ev).(type) {
		case []Q0Result:
			atLeast(qc.label, "results", len(r), 1)
		case []Q1Result:
			atLeast(qc.label, "results", len(r), 1)
		case []Q2Result:
			atLeast(qc.label, "results", len(r), 1)
		case []Q3Result:
			atLeast(qc.label, "results", len(r), 100)
			persons := map[int64]int64{}
			for _, p := range ev.persons {
				persons[p.ID] = p.DateTime
			}
			early := 0
			for _, a := range ev.auctions {
				if pt, ok := persons[a.Seller]; ok && a.Category == 10 && a.DateTime < pt {
					early++
				}
			}
			atLeast(qc.label, "category-10 auctions dated before their seller", early, 1)
		case []Q5Result:
			atLeast(qc.label, "results", len(r), 1)
			perWindow := map[int64]int{}
			for _, x := range r {
				perWindow[x.WindowStart]++
			}
			ties := 0
			for _, n := range perWindow {
				if n > 1 {
					ties++
				}
			}
			atLeast(qc.label, "hop windows", len(perWindow), 10)
			atLeast(qc.label, "hop windows with tied maxima", ties, 1)
		case []Q7Result:
			atLeast(qc.label, "results", len(r), 1)
			var starts []int64
			for _, x := range r {
				starts = append(starts, x.WindowStart)
			}
			atLeast(qc.label, "tumbling windows", distinct(starts), 2)
		case []Q8Result:
			atLeast(qc.label, "results", len(r), 100)
			var starts []int64
			for _, x := range r {
				starts = append(starts, x.WindowStart)
			}
			atLeast(qc.label, "tumbling windows", distinct(starts), 2)
		case []Q11Result:
			atLeast(qc.label, "results", len(r), 1)
			var multi []int64
			sessions := map[int64]int{}
			for _, x := range r {
				if x.BidCount > 1 {
					multi = append(multi, x.Bidder)
				}
				sessions[x.Bidder]++
			}
			atLeast(qc.label, "sessions with more than one bid", len(multi), 1)
			if qc.gen == slowConfig() {
				split := 0
				for _, n := range sessions {
					if n > 1 {
						split++
					}
				}
				atLeast(qc.label, "bidders with several sessions", split, 100)
				atLeast(qc.label, "consecutive bids of a bidder exactly 10 s apart", exactGaps(ev, refSessionGap), 1)
			}
		default:
			t.Fatalf("%s: unexpected reference type %T", qc.label, r)
		}
	}
}

// exactGaps counts the consecutive bids (in time) of a bidder that are
// exactly gap ms apart.
func exactGaps(ev *refEvents, gap int64) int {
	times := map[int64][]int64{}
	for _, b := range ev.bids {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	n := 0
	for _, ts := range times {
		slices.Sort(ts)
		for i := 1; i < len(ts); i++ {
			if ts[i]-ts[i-1] == gap {
				n++
			}
		}
	}
	return n
}

// TestParallelismInvariance checks that the stateful queries return the same
// multiset at parallelism 1, 2 and 3.
func TestParallelismInvariance(t *testing.T) {
	for _, qc := range cases {
		switch qc.name {
		case "q5", "q7", "q8", "q11":
		default:
			continue
		}
		t.Run(qc.label, func(t *testing.T) {
			qc.sameAcross(t, qc.gen, qc.n(), []int{1, 2, 3})
		})
	}
}

// q7Config is a generator that makes q7's corner cases appear at once: one
// event per second of event time and proportions 1/3/1, so that a 10 s
// window holds ten events and two bids, one at the window's start (which is
// also the previous window's end) and one 5 s later.
func q7Config() nexmark.Config {
	cfg := nexmark.DefaultConfig()
	cfg.FirstEventRate = 1
	cfg.PersonProportion, cfg.AuctionProportion, cfg.BidProportion = 1, 3, 1
	return cfg
}

// q7Corner finds, in q7Config's bids (event ids 5j+4), the first j for which
// ok(price of bid j, of bid j+1, of bid j+2) holds, and returns the config
// with FirstEventID set so that bid j is event 20: bids j and j+1 then fall
// in the window [20 s, 30 s) after the base time and bid j+2 at its end
// (30 s). Events are pure functions of their id, so shifting the first id
// only shifts their timestamps.
func q7Corner(t *testing.T, ok func(p0, p1, p2 int64) bool) nexmark.Config {
	t.Helper()
	cfg := q7Config()
	if cfg.BaseTime%refTumble != 0 {
		t.Fatalf("base time %d is not a multiple of the window", cfg.BaseTime)
	}
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	price := func(j int64) int64 {
		var b nexmark.Bid
		g.Bid(5*j+4, &b)
		return b.Price
	}
	const limit = 5_000_000
	p0, p1, p2 := price(0), price(1), price(2)
	for j := int64(0); j < limit; j++ {
		if j >= 4 && ok(p0, p1, p2) {
			cfg.FirstEventID = 5*j + 4 - 20
			return cfg
		}
		p0, p1, p2 = p1, p2, price(j+3)
	}
	t.Fatalf("no case among the first %d bids", limit)
	return cfg
}

// TestQ7Corners runs q7 on bids crafted (by choosing where the generator's
// timeline starts) to hit its corner cases, which random data of the
// default generator essentially never does:
//   - two bids of one window tie for its highest price: both are results;
//   - a bid dated exactly at a window's end has the highest price of that
//     window (not its own): BETWEEN is inclusive, so it is a result of that
//     window too.
func TestQ7Corners(t *testing.T) {
	const events = 40 // windows [0, 10 s) ... [30 s, 40 s) after the base time
	corners := []struct {
		name string
		ok   func(p0, p1, p2 int64) bool
		// check tells whether the reference shows the corner case.
		check func(r []Q7Result) bool
	}{
		{"tie", func(p0, p1, _ int64) bool { return p0 == p1 }, func(r []Q7Result) bool {
			per := map[int64]int{}
			for _, x := range r {
				per[x.WindowStart]++
			}
			for _, n := range per {
				if n > 1 {
					return true
				}
			}
			return false
		}},
		{"edge", func(p0, p1, p2 int64) bool { return p2 == max(p0, p1) }, func(r []Q7Result) bool {
			for _, x := range r {
				if x.DateTime == x.WindowEnd {
					return true
				}
			}
			return false
		}},
	}
	for _, c := range corners {
		t.Run(c.name, func(t *testing.T) {
			gen := q7Corner(t, c.ok)
			want := refQ7(loadEvents(t, gen, events))
			if !c.check(want) {
				t.Fatalf("FirstEventID %d: the reference does not show the %s case: %+v", gen.FirstEventID, c.name, want)
			}
			for _, p := range []int{1, 4} {
				got := runJob(t, "q7", Q7, gen, events, p)
				checkMultiset(t, fmt.Sprintf("q7 %s (FirstEventID %d), parallelism %d", c.name, gen.FirstEventID, p), got, want, cmpQ7)
			}
		})
	}
}
