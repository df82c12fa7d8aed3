// Package queries builds the Nexmark benchmark queries as weir jobs, with
// the semantics of the Flink nexmark SQL suite (see shared NEXMARK.md): q0,
// q1, q2, q3, q5, q7, q8 and q11. Each QN function adds the query's
// operators to an environment and returns its result stream; Attach adds a
// sink. Every stateful operator carries a UID, so savepoints of these jobs
// survive changes to the job.
//
// Results never depend on parallelism: the source's events are a pure
// function of their number, and every operator is keyed or windowed in event
// time.
package queries

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/connector/stdout"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/window"
)

// WatermarkDelay is the bounded out-of-orderness of the Nexmark sources, as
// in the Flink suite's DDL (dateTime - INTERVAL '4' SECOND).
const WatermarkDelay = 4 * time.Second

// Names lists the queries in order.
var Names = []string{"q0", "q1", "q2", "q3", "q5", "q7", "q8", "q11"}

func bids(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[nexmark.Bid], error) {
	src, err := nexmark.Bids(cfg)
	if err != nil {
		return weir.Stream[nexmark.Bid]{}, err
	}
	return weir.FromSource(env, src, weir.BoundedOutOfOrderness[nexmark.Bid](WatermarkDelay)).UID("nexmark-bids").Name("Bids"), nil
}

func persons(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[nexmark.Person], error) {
	src, err := nexmark.Persons(cfg)
	if err != nil {
		return weir.Stream[nexmark.Person]{}, err
	}
	return weir.FromSource(env, src, weir.BoundedOutOfOrderness[nexmark.Person](WatermarkDelay)).UID("nexmark-persons").Name("Persons"), nil
}

func auctions(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[nexmark.Auction], error) {
	src, err := nexmark.Auctions(cfg)
	if err != nil {
		return weir.Stream[nexmark.Auction]{}, err
	}
	return weir.FromSource(env, src, weir.BoundedOutOfOrderness[nexmark.Auction](WatermarkDelay)).UID("nexmark-auctions").Name("Auctions"), nil
}

// Q0 passes every bid through.
func Q0(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q0Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q0Result]{}, err
	}
	return weir.Map(b, func(b nexmark.Bid) Q0Result {
		return Q0Result{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra}
	}).Name("q0-project"), nil
}

// Q1 converts every bid's price to euros.
func Q1(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q1Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q1Result]{}, err
	}
	return weir.Map(b, func(b nexmark.Bid) Q1Result {
		return Q1Result{Auction: b.Auction, Bidder: b.Bidder, Price: 0.908 * float64(b.Price), DateTime: b.DateTime, Extra: b.Extra}
	}).Name("q1-currency"), nil
}

// Q2 selects the bids on auctions whose id is a multiple of 123.
func Q2(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q2Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q2Result]{}, err
	}
	sel := b.Filter(func(b nexmark.Bid) bool { return b.Auction%123 == 0 }).Name("q2-select")
	return weir.Map(sel, func(b nexmark.Bid) Q2Result { return Q2Result{Auction: b.Auction, Price: b.Price} }).Name("q2-project"), nil
}

// Q3 joins sellers in Oregon, Idaho and California with their auctions in
// category 10 (a regular inner join: both sides are kept as long as they
// may still match).
func Q3(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q3Result], error) {
	a, err := auctions(env, cfg)
	if err != nil {
		return weir.Stream[Q3Result]{}, err
	}
	p, err := persons(env, cfg)
	if err != nil {
		return weir.Stream[Q3Result]{}, err
	}
	a = a.Filter(func(a nexmark.Auction) bool { return a.Category == 10 }).Name("q3-category-10")
	p = p.Filter(func(p nexmark.Person) bool { return p.State == "OR" || p.State == "ID" || p.State == "CA" }).Name("q3-states")
	joined := weir.KeyedCoProcess(weir.ConnectKeyed(
		weir.KeyBy(a, func(a nexmark.Auction) int64 { return a.Seller }),
		weir.KeyBy(p, func(p nexmark.Person) int64 { return p.ID })), &q3Join{})
	return joined.UID("q3-join").Name("q3-join"), nil
}

// Q3Person is the part of a person q3 keeps.
type Q3Person struct {
	Name, City, State string
}

type q3Join struct {
	person  state.Value[Q3Person]
	pending state.List[int64]
}

func (j *q3Join) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	if j.person, err = state.GetValue(ctx, state.ValueDescriptor[Q3Person]{Name: "person"}); err != nil {
		return err
	}
	j.pending, err = state.GetList(ctx, state.ListDescriptor[int64]{Name: "pending-auctions"})
	return err
}

// ProcessElement1 handles an auction: joined at once if its seller is
// known, kept until the seller arrives otherwise.
func (j *q3Join) ProcessElement1(ctx *weir.KeyedContext[int64], a nexmark.Auction, out weir.Collector[Q3Result]) error {
	if p, ok := j.person.Value(); ok {
		out.Collect(Q3Result{Name: p.Name, City: p.City, State: p.State, ID: a.ID})
		return nil
	}
	j.pending.Add(a.ID)
	return nil
}

// ProcessElement2 handles a person: it is kept, and joins the auctions that
// waited for it.
func (j *q3Join) ProcessElement2(ctx *weir.KeyedContext[int64], p nexmark.Person, out weir.Collector[Q3Result]) error {
	j.person.Update(Q3Person{Name: p.Name, City: p.City, State: p.State})
	for id := range j.pending.All() {
		out.Collect(Q3Result{Name: p.Name, City: p.City, State: p.State, ID: id})
	}
	j.pending.Clear()
	return nil
}

type count[T any] struct{}

func (count[T]) CreateAccumulator() int64 { return 0 }
func (count[T]) Add(_ T, acc int64) int64 { return acc + 1 }
func (count[T]) Result(acc int64) int64   { return acc }
func (count[T]) Merge(a, b int64) int64   { return a + b }

// AuctionCount is the number of bids of an auction in a window.
type AuctionCount struct {
	Auction, Num, Start, End int64
}

// Q5 finds, for every 10 s window sliding by 2 s, the auctions with the most
// bids.
func Q5(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q5Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q5Result]{}, err
	}
	counts := weir.WindowAggregateProcess(
		weir.KeyBy(b, func(b nexmark.Bid) int64 { return b.Auction }).
			Window(window.SlidingEventTime(10*time.Second, 2*time.Second)),
		count[nexmark.Bid]{},
		func(auction int64, w window.TimeWindow, n int64, out weir.Collector[AuctionCount]) error {
			out.Collect(AuctionCount{Auction: auction, Num: n, Start: w.Start, End: w.End})
			return nil
		}).UID("q5-auction-counts").Name("q5-auction-counts")
	hot := weir.Process(weir.KeyBy(counts, func(c AuctionCount) int64 { return c.Start }), &q5Hottest{})
	return hot.UID("q5-hottest").Name("q5-hottest"), nil
}

// Q5Max is q5's running maximum of one window.
type Q5Max struct {
	Num      int64
	End      int64
	Auctions []int64
}

type q5Hottest struct {
	max state.Value[Q5Max]
}

func (h *q5Hottest) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	h.max, err = state.GetValue(ctx, state.ValueDescriptor[Q5Max]{Name: "max"})
	return err
}

func (h *q5Hottest) ProcessElement(ctx *weir.KeyedContext[int64], c AuctionCount, _ weir.Collector[Q5Result]) error {
	m, ok := h.max.Value()
	switch {
	case !ok || c.Num > m.Num:
		// A new slice: state values are never modified in place.
		m = Q5Max{Num: c.Num, End: c.End, Auctions: []int64{c.Auction}}
		// The window's counts all carry timestamp End-1; they are complete
		// once the watermark reaches it.
		ctx.RegisterEventTimeTimer(c.End - 1)
	case c.Num == m.Num:
		m.Auctions = append(m.Auctions, c.Auction)
	default:
		return nil
	}
	h.max.Update(m)
	return nil
}

func (h *q5Hottest) OnTimer(ctx *weir.KeyedContext[int64], _ int64, out weir.Collector[Q5Result]) error {
	m, ok := h.max.Value()
	if !ok {
		return nil
	}
	for _, a := range m.Auctions {
		out.Collect(Q5Result{Auction: a, Num: m.Num, WindowStart: ctx.CurrentKey(), WindowEnd: m.End})
	}
	h.max.Clear()
	return nil
}

const tumble = 10 * time.Second

// q7Bid is a bid routed to the window whose highest price it may match.
type q7Bid struct {
	Start int64
	Bid   nexmark.Bid
	// Edge marks a bid at exactly the window's end: it does not count
	// toward the window's maximum, but SQL's inclusive BETWEEN joins it.
	Edge bool
}

// Q7 finds, for every 10 s tumbling window, the bids with the window's
// highest price. As in the SQL, a bid dated exactly at a window's end also
// matches that window's maximum.
func Q7(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q7Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q7Result]{}, err
	}
	size := tumble.Milliseconds()
	routed := weir.FlatMap(b, func(b nexmark.Bid, out weir.Collector[q7Bid]) {
		start := b.DateTime - mod(b.DateTime, size)
		out.Collect(q7Bid{Start: start, Bid: b})
		if b.DateTime == start {
			out.Collect(q7Bid{Start: start - size, Bid: b, Edge: true})
		}
	}).Name("q7-route")
	return weir.Process(weir.KeyBy(routed, func(r q7Bid) int64 { return r.Start }), &q7Highest{size: size}).
		UID("q7-highest").Name("q7-highest"), nil
}

// Q7State is q7's state of one window.
type Q7State struct {
	Max  int64
	Seen bool
	// Top holds the window's bids at Max; Edges the bids at the window's
	// end.
	Top, Edges []nexmark.Bid
}

type q7Highest struct {
	size int64
	st   state.Value[Q7State]
}

func (h *q7Highest) Open(ctx *weir.KeyedContext[int64]) error {
	var err error
	h.st, err = state.GetValue(ctx, state.ValueDescriptor[Q7State]{Name: "window"})
	return err
}

func (h *q7Highest) ProcessElement(ctx *weir.KeyedContext[int64], r q7Bid, _ weir.Collector[Q7Result]) error {
	s, ok := h.st.Value()
	if !ok {
		// Fire at the window's end: the bids dated exactly then must have
		// arrived.
		ctx.RegisterEventTimeTimer(r.Start + h.size)
	}
	switch {
	case r.Edge:
		s.Edges = append(s.Edges, r.Bid)
	case !s.Seen || r.Bid.Price > s.Max:
		s.Max, s.Seen, s.Top = r.Bid.Price, true, []nexmark.Bid{r.Bid}
	case r.Bid.Price == s.Max:
		s.Top = append(s.Top, r.Bid)
	}
	h.st.Update(s)
	return nil
}

func (h *q7Highest) OnTimer(ctx *weir.KeyedContext[int64], _ int64, out weir.Collector[Q7Result]) error {
	s, _ := h.st.Value()
	h.st.Clear()
	if !s.Seen {
		return nil
	}
	start := ctx.CurrentKey()
	emit := func(b nexmark.Bid) {
		out.Collect(Q7Result{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra, WindowStart: start, WindowEnd: start + h.size})
	}
	for _, b := range s.Top {
		emit(b)
	}
	for _, b := range s.Edges {
		if b.Price == s.Max {
			emit(b)
		}
	}
	return nil
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Q8 finds the persons who created an auction in the same 10 s tumbling
// window in which they registered.
func Q8(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q8Result], error) {
	p, err := persons(env, cfg)
	if err != nil {
		return weir.Stream[Q8Result]{}, err
	}
	a, err := auctions(env, cfg)
	if err != nil {
		return weir.Stream[Q8Result]{}, err
	}
	type person struct {
		ID   int64
		Name string
	}
	pk := weir.KeyBy(weir.Map(p, func(p nexmark.Person) person { return person{p.ID, p.Name} }).Name("q8-person"),
		func(p person) int64 { return p.ID })
	ak := weir.KeyBy(weir.Map(a, func(a nexmark.Auction) int64 { return a.Seller }).Name("q8-seller"),
		func(s int64) int64 { return s })
	j := weir.JoinWindows(pk, ak, window.TumblingEventTime(tumble))
	return weir.WindowCoGroup(j, func(id int64, w window.TimeWindow, ps []person, sellers []int64, out weir.Collector[Q8Result]) error {
		if len(ps) == 0 || len(sellers) == 0 {
			return nil
		}
		// GROUP BY id, name: one row per distinct name.
		names := make([]string, 0, len(ps))
		for _, p := range ps {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			out.Collect(Q8Result{ID: id, Name: n, WindowStart: w.Start, WindowEnd: w.End})
		}
		return nil
	}).UID("q8-join").Name("q8-join"), nil
}

// Q11 counts the bids of every bidder's sessions (sessions end after 10 s
// without a bid).
func Q11(env *weir.Environment, cfg nexmark.SourceConfig) (weir.Stream[Q11Result], error) {
	b, err := bids(env, cfg)
	if err != nil {
		return weir.Stream[Q11Result]{}, err
	}
	return weir.WindowAggregateProcess(
		weir.KeyBy(b, func(b nexmark.Bid) int64 { return b.Bidder }).Window(window.EventTimeSession(10*time.Second)),
		count[nexmark.Bid]{},
		func(bidder int64, w window.TimeWindow, n int64, out weir.Collector[Q11Result]) error {
			out.Collect(Q11Result{Bidder: bidder, BidCount: n, WindowStart: w.Start, WindowEnd: w.End})
			return nil
		}).UID("q11-sessions").Name("q11-sessions"), nil
}

// Output says where a query run's results go. With neither JSONPath nor
// Stdout set, results are counted and dropped (Flink's blackhole sink), as
// benchmarks want.
type Output struct {
	// JSONPath writes the results as JSON lines to this file.
	JSONPath string
	// Stdout prints the results as JSON lines.
	Stdout bool
	// Count, if not nil, is incremented once per result.
	Count *atomic.Int64
}

// Attach adds the sinks o asks for to s.
func Attach[T any](s weir.Stream[T], o Output) {
	switch {
	case o.JSONPath != "":
		weir.To(s, file.JSONLines[T](o.JSONPath)).UID("results-json").Name("results-json")
	case o.Stdout:
		weir.To(s, stdout.Sink[T]()).UID("results-stdout").Name("results-stdout")
	case o.Count != nil:
		weir.To(s, counter[T]{o.Count}).UID("results-count").Name("results-count")
		return
	default:
		weir.To(s, blackhole[T]{}).UID("results-blackhole").Name("results-blackhole")
	}
	if o.Count != nil {
		weir.To(s, counter[T]{o.Count}).UID("results-count").Name("results-count")
	}
}

type blackhole[T any] struct{}

func (blackhole[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	return blackhole[T]{}, nil
}
func (blackhole[T]) Write(T) error { return nil }
func (blackhole[T]) Flush() error  { return nil }
func (blackhole[T]) Close() error  { return nil }

type counter[T any] struct{ n *atomic.Int64 }

func (c counter[T]) NewWriter(weir.SinkContext) (weir.SinkWriter[T], error) {
	return &countWriter[T]{n: c.n}, nil
}

type countWriter[T any] struct {
	n     *atomic.Int64
	local int64
	_     [64]byte // keeps subtasks' counters off each other's cache line
}

func (w *countWriter[T]) Write(T) error { w.local++; return nil }
func (w *countWriter[T]) Flush() error  { w.n.Add(w.local); w.local = 0; return nil }

// Close counts what was written since the last flush: a cancelled job
// (an unbounded run ended by an interrupt) closes its sinks without one.
func (w *countWriter[T]) Close() error { return w.Flush() }

// Builder adds a query with its sinks to an environment.
type Builder func(env *weir.Environment, cfg nexmark.SourceConfig, out Output) error

func build[T any](q func(*weir.Environment, nexmark.SourceConfig) (weir.Stream[T], error)) Builder {
	return func(env *weir.Environment, cfg nexmark.SourceConfig, out Output) error {
		s, err := q(env, cfg)
		if err != nil {
			return err
		}
		Attach(s, out)
		return nil
	}
}

var builders = map[string]Builder{
	"q0":  build(Q0),
	"q1":  build(Q1),
	"q2":  build(Q2),
	"q3":  build(Q3),
	"q5":  build(Q5),
	"q7":  build(Q7),
	"q8":  build(Q8),
	"q11": build(Q11),
}

// Lookup returns the builder of query name ("q0", ...).
func Lookup(name string) (Builder, error) {
	b, ok := builders[name]
	if !ok {
		return nil, fmt.Errorf("queries: unknown query %q; known: %v", name, Names)
	}
	return b, nil
}
