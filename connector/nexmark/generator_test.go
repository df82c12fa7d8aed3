package nexmark

import (
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/first_events.txt from the generator")

func newTestGenerator(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatalf("NewGenerator: %v", err)
	}
	return g
}

// formatEvent renders an event as one line of |-separated fields, the
// format of testdata/first_events.txt.
func formatEvent(n int64, ev *Event) string {
	switch ev.Type {
	case EventPerson:
		p := &ev.Person
		return fmt.Sprintf("P|%d|%d|%s|%s|%s|%s|%s|%d|%s", n, p.ID, p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, p.DateTime, p.Extra)
	case EventAuction:
		a := &ev.Auction
		return fmt.Sprintf("A|%d|%d|%s|%s|%d|%d|%d|%d|%d|%d|%s", n, a.ID, a.ItemName, a.Description, a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category, a.Extra)
	default:
		b := &ev.Bid
		return fmt.Sprintf("B|%d|%d|%d|%d|%s|%s|%d|%s", n, b.Auction, b.Bidder, b.Price, b.Channel, b.URL, b.DateTime, b.Extra)
	}
}

// TestGolden freezes the generator: event n must never change, since
// checkpoints store only how many events were emitted. The file was produced
// by this generator and cross-checked line by line against an independent
// Java implementation of Beam's generator (java.util.Random, Math.pow) run on
// OpenJDK 17. Run with -update only for a deliberate, documented change.
func TestGolden(t *testing.T) {
	const numEvents = 200
	path := filepath.Join("testdata", "first_events.txt")
	g := newTestGenerator(t, DefaultConfig())
	var sb strings.Builder
	var ev Event
	for n := range int64(numEvents) {
		g.Event(n, &ev)
		sb.WriteString(formatEvent(n, &ev))
		sb.WriteByte('\n')
	}
	got := sb.String()
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	wantLines := strings.Split(string(wantBytes), "\n")
	gotLines := strings.Split(got, "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("generated %d lines, golden file has %d", len(gotLines), len(wantLines))
	}
	for i := range gotLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("event %d differs from the golden file:\n got: %s\nwant: %s", i, gotLines[i], wantLines[i])
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if c.BaseTime != 1436918400000 {
		t.Errorf("BaseTime = %d, want 2015-07-15T00:00:00Z = 1436918400000", c.BaseTime)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		field  string // must be named in the error
	}{
		{"zero rate", func(c *Config) { c.FirstEventRate = 0 }, "FirstEventRate"},
		{"negative rate", func(c *Config) { c.FirstEventRate = -5 }, "FirstEventRate"},
		{"no persons", func(c *Config) { c.PersonProportion = 0 }, "PersonProportion"},
		{"no auctions", func(c *Config) { c.AuctionProportion = 0 }, "AuctionProportion"},
		{"negative bids", func(c *Config) { c.BidProportion = -1 }, "BidProportion"},
		{"huge proportion", func(c *Config) { c.BidProportion = maxProportion + 1 }, "BidProportion"},
		{"negative person size", func(c *Config) { c.AvgPersonByteSize = -1 }, "AvgPersonByteSize"},
		{"huge auction size", func(c *Config) { c.AvgAuctionByteSize = maxAvgByteSize + 1 }, "AvgAuctionByteSize"},
		{"huge bid size", func(c *Config) { c.AvgBidByteSize = 1 << 20 }, "AvgBidByteSize"},
		{"zero hot auction ratio", func(c *Config) { c.HotAuctionRatio = 0 }, "HotAuctionRatio"},
		{"zero hot sellers ratio", func(c *Config) { c.HotSellersRatio = 0 }, "HotSellersRatio"},
		{"negative hot bidders ratio", func(c *Config) { c.HotBiddersRatio = -2 }, "HotBiddersRatio"},
		{"no in-flight auctions", func(c *Config) { c.NumInFlightAuctions = 0 }, "NumInFlightAuctions"},
		{"no active people", func(c *Config) { c.NumActivePeople = 0 }, "NumActivePeople"},
		{"negative first id", func(c *Config) { c.FirstEventID = -1 }, "FirstEventID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate() = %q, want it to name %s", err, tt.field)
			}
			if _, err := NewGenerator(c); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewGenerator() error = %v, want ErrInvalidConfig", err)
			}
		})
	}

	// Every problem is reported, not just the first.
	var c Config
	err := c.Validate()
	for _, field := range []string{"FirstEventRate", "PersonProportion", "HotAuctionRatio", "NumActivePeople"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Config{}.Validate() = %v, want it to name %s", err, field)
		}
	}

	// Boundary values that are valid.
	c = DefaultConfig()
	c.AvgPersonByteSize, c.AvgAuctionByteSize, c.AvgBidByteSize = 0, maxAvgByteSize, 0
	c.HotAuctionRatio, c.HotSellersRatio, c.HotBiddersRatio = 1, 1, 1
	c.NumInFlightAuctions, c.NumActivePeople = 1, 1
	if err := c.Validate(); err != nil {
		t.Errorf("boundary config: Validate() = %v", err)
	}
}

func TestEventTypeString(t *testing.T) {
	for typ, want := range map[EventType]string{EventPerson: "person", EventAuction: "auction", EventBid: "bid", 7: "EventType(7)"} {
		if got := typ.String(); got != want {
			t.Errorf("EventType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

// TestProportions counts event types over the first 50,000 events: exactly
// 1,000 persons, 3,000 auctions and 46,000 bids with the defaults, and the
// configured mix otherwise.
func TestProportions(t *testing.T) {
	tests := []struct {
		name            string
		person, auction int
		bid             int
		firstID         int64
	}{
		{"default", 1, 3, 46, 0},
		{"default mix, first id 1", 1, 3, 46, 1},
		{"custom", 2, 5, 13, 7},
	}
	const numEvents = 50000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.PersonProportion, cfg.AuctionProportion, cfg.BidProportion = tt.person, tt.auction, tt.bid
			cfg.FirstEventID = tt.firstID
			g := newTestGenerator(t, cfg)
			var counts [3]int
			var ev Event
			for n := range int64(numEvents) {
				g.Event(n, &ev)
				if ev.Type != g.TypeOf(n) {
					t.Fatalf("event %d: Type %v, TypeOf %v", n, ev.Type, g.TypeOf(n))
				}
				counts[ev.Type]++
			}
			total := tt.person + tt.auction + tt.bid
			want := [3]int{numEvents * tt.person / total, numEvents * tt.auction / total, numEvents * tt.bid / total}
			if counts != want {
				t.Errorf("persons/auctions/bids = %v, want %v", counts, want)
			}
		})
	}
}

func TestNextOfType(t *testing.T) {
	for _, cfg := range []Config{
		DefaultConfig(),
		func() Config { c := DefaultConfig(); c.FirstEventID = 17; return c }(),
		func() Config {
			c := DefaultConfig()
			c.PersonProportion, c.AuctionProportion, c.BidProportion, c.FirstEventID = 3, 1, 2, 5
			return c
		}(),
	} {
		g := newTestGenerator(t, cfg)
		for n := int64(0); n < 300; n++ {
			for _, typ := range []EventType{EventPerson, EventAuction, EventBid} {
				want := n
				for g.TypeOf(want) != typ {
					want++
				}
				if got := g.NextOfType(n, typ); got != want {
					t.Errorf("%+v: NextOfType(%d, %v) = %d, want %d", cfg, n, typ, got, want)
				}
			}
		}
	}
}

func TestWrongTypePanics(t *testing.T) {
	g := newTestGenerator(t, DefaultConfig())
	calls := []struct {
		name string
		call func()
	}{
		{"Person(1)", func() { g.Person(1, new(Person)) }},
		{"Auction(0)", func() { g.Auction(0, new(Auction)) }},
		{"Bid(2)", func() { g.Bid(2, new(Bid)) }},
		{"NextOfType(0, 9)", func() { g.NextOfType(0, 9) }},
	}
	for _, c := range calls {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", c.name)
				}
			}()
			c.call()
		}()
	}
}

// TestDeterminism checks that event n is a pure function of n: generating it
// twice, in another order, from another Generator or from several goroutines
// at once gives the same event.
func TestDeterminism(t *testing.T) {
	const numEvents = 5000
	g := newTestGenerator(t, DefaultConfig())
	forward := make([]Event, numEvents)
	for n := range int64(numEvents) {
		g.Event(n, &forward[n])
	}

	var ev Event
	for n := int64(numEvents - 1); n >= 0; n-- {
		g.Event(n, &ev)
		if ev != forward[n] {
			t.Fatalf("event %d generated backwards differs:\n%+v\n%+v", n, ev, forward[n])
		}
	}

	// Reusing an Event that held another type clears the stale fields.
	g2 := newTestGenerator(t, DefaultConfig())
	for _, n := range []int64{0, 4, 1, 0, 2, 4999, 50, 3} {
		g2.Event(n, &ev)
		if ev != forward[n] {
			t.Fatalf("event %d after reuse differs:\n%+v\n%+v", n, ev, forward[n])
		}
	}

	// The typed accessors agree with Event.
	for n := range int64(200) {
		switch forward[n].Type {
		case EventPerson:
			var p Person
			g.Person(n, &p)
			if p != forward[n].Person {
				t.Errorf("Person(%d) differs from Event", n)
			}
		case EventAuction:
			var a Auction
			g.Auction(n, &a)
			if a != forward[n].Auction {
				t.Errorf("Auction(%d) differs from Event", n)
			}
		case EventBid:
			var b Bid
			g.Bid(n, &b)
			if b != forward[n].Bid {
				t.Errorf("Bid(%d) differs from Event", n)
			}
		}
	}

	// Interleaved split across goroutines, as parallel source subtasks do.
	const p = 4
	var wg sync.WaitGroup
	mismatch := make([]int64, p)
	for i := range p {
		wg.Go(func() {
			mismatch[i] = -1
			var ev Event
			for n := int64(i); n < numEvents; n += p {
				g.Event(n, &ev)
				if ev != forward[n] {
					mismatch[i] = n
					return
				}
			}
		})
	}
	wg.Wait()
	for i, n := range mismatch {
		if n >= 0 {
			t.Errorf("goroutine %d: event %d differs", i, n)
		}
	}
}

// TestFirstEventIDShiftsIDs checks that the id, not the event number, decides
// an event's content: with FirstEventID = f, event n has the fields of event
// f+n of the default generator, except for its times.
func TestFirstEventIDShiftsIDs(t *testing.T) {
	const f = 1234
	cfg := DefaultConfig()
	cfg.FirstEventID = f
	shifted := newTestGenerator(t, cfg)
	base := newTestGenerator(t, DefaultConfig())
	var a, b Event
	for n := range int64(500) {
		shifted.Event(n, &a)
		base.Event(f+n, &b)
		if a.DateTime() != base.Timestamp(n) {
			t.Fatalf("event %d: DateTime %d, want Timestamp(%d) = %d", n, a.DateTime(), n, base.Timestamp(n))
		}
		a.Person.DateTime, a.Auction.DateTime, a.Auction.Expires, a.Bid.DateTime = 0, 0, 0, 0
		b.Person.DateTime, b.Auction.DateTime, b.Auction.Expires, b.Bid.DateTime = 0, 0, 0, 0
		if a != b {
			t.Fatalf("event %d with FirstEventID %d differs from event %d:\n%+v\n%+v", n, f, f+n, a, b)
		}
	}
}

func TestTimestamps(t *testing.T) {
	// Expected values from the JDK: baseTime + (long)(k * (1000000.0/rate)) / 1000L.
	tests := []struct {
		rate int64
		want map[int64]int64 // event number -> ms after BaseTime
	}{
		{10000, map[int64]int64{0: 0, 9: 0, 10: 1, 100: 10, 1000: 100, 10000: 1000, 123456789: 12345678}},
		{3, map[int64]int64{0: 0, 1: 333, 2: 666, 3: 1000, 7: 2333, 10: 3333, 1000: 333333, 123456789: 41152263000}},
		{7, map[int64]int64{1: 142, 2: 285, 3: 428, 7: 1000, 1000: 142857, 123456789: 17636684142}},
		{13, map[int64]int64{1: 76, 3: 230, 7: 538, 1000: 76923, 123456789: 9496676076}},
		{1000000, map[int64]int64{999: 0, 1000: 1, 123456789: 123456}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.FirstEventRate = tt.rate
		g := newTestGenerator(t, cfg)
		for n, want := range tt.want {
			if got := g.Timestamp(n) - cfg.BaseTime; got != want {
				t.Errorf("rate %d: Timestamp(%d) = BaseTime%+d, want BaseTime%+d", tt.rate, n, got, want)
			}
		}
	}

	g := newTestGenerator(t, DefaultConfig())
	if got := g.Timestamp(0); got != 1436918400000 {
		t.Errorf("Timestamp(0) = %d, want 1436918400000", got)
	}
	if got := g.Timestamp(10000); got != 1436918400000+1000 {
		t.Errorf("Timestamp(10000) = %d, want 1436918401000", got)
	}
	prev := g.Timestamp(0)
	var ev Event
	for n := range int64(100000) {
		g.Event(n, &ev)
		ts := ev.DateTime()
		if ts != g.Timestamp(n) {
			t.Fatalf("event %d: DateTime %d, Timestamp %d", n, ts, g.Timestamp(n))
		}
		if ts < prev {
			t.Fatalf("event %d: DateTime %d < previous %d", n, ts, prev)
		}
		prev = ts
	}
}

// TestIDs follows the first 100,000 events and checks the id bookkeeping:
// consecutive person and auction ids, references at most 10 ids ahead of the
// latest entity, and the hot-key shares.
func TestIDs(t *testing.T) {
	g := newTestGenerator(t, DefaultConfig())
	cfg := g.Config()
	var (
		ev                          Event
		lastPerson                  int64 = FirstPersonID - 1
		lastAuction                 int64 = FirstAuctionID - 1
		bids, hotAuction, hotBidder int
		auctions, hotSeller         int
	)
	for n := range int64(100000) {
		g.Event(n, &ev)
		// Referenced persons lie in [oldest person, latest + lead], where
		// oldest is the first of the NumActivePeople latest; auctions in
		// [latest - NumInFlightAuctions, latest + lead].
		oldestPerson := max(lastPerson+1-int64(cfg.NumActivePeople), FirstPersonID)
		oldestAuction := max(lastAuction-int64(cfg.NumInFlightAuctions), FirstAuctionID)
		switch ev.Type {
		case EventPerson:
			if ev.Person.ID != lastPerson+1 {
				t.Fatalf("event %d: person id %d, want %d", n, ev.Person.ID, lastPerson+1)
			}
			lastPerson = ev.Person.ID
		case EventAuction:
			a := &ev.Auction
			if a.ID != lastAuction+1 {
				t.Fatalf("event %d: auction id %d, want %d", n, a.ID, lastAuction+1)
			}
			lastAuction = a.ID
			if a.Seller < oldestPerson || a.Seller > lastPerson+personIDLead {
				t.Fatalf("event %d: seller %d outside [%d, %d]", n, a.Seller, oldestPerson, lastPerson+personIDLead)
			}
			auctions++
			if a.Seller == (lastPerson-FirstPersonID)/hotSellerBlock*hotSellerBlock+FirstPersonID {
				hotSeller++
			}
		case EventBid:
			b := &ev.Bid
			if b.Auction < oldestAuction || b.Auction > lastAuction+auctionIDLead {
				t.Fatalf("event %d: bid auction %d outside [%d, %d]", n, b.Auction, oldestAuction, lastAuction+auctionIDLead)
			}
			if b.Bidder < oldestPerson || b.Bidder > lastPerson+personIDLead {
				t.Fatalf("event %d: bidder %d outside [%d, %d]", n, b.Bidder, oldestPerson, lastPerson+personIDLead)
			}
			bids++
			if b.Auction == (lastAuction-FirstAuctionID)/hotAuctionBlock*hotAuctionBlock+FirstAuctionID {
				hotAuction++
			}
			if b.Bidder == (lastPerson-FirstPersonID)/hotBidderBlock*hotBidderBlock+1+FirstPersonID {
				hotBidder++
			}
		}
	}
	if lastPerson != FirstPersonID+2000-1 || lastAuction != FirstAuctionID+6000-1 {
		t.Errorf("after 100,000 events: last person %d, last auction %d; want 2999 and 6999", lastPerson, lastAuction)
	}
	share := func(part, whole int) float64 { return float64(part) / float64(whole) }
	// P(hot) = 1 - 1/ratio, plus the small chance that a random pick hits it.
	if s := share(hotAuction, bids); s < 0.45 || s > 0.55 {
		t.Errorf("hot auction share of bids = %.3f, want about 0.50", s)
	}
	if s := share(hotBidder, bids); s < 0.70 || s > 0.80 {
		t.Errorf("hot bidder share of bids = %.3f, want about 0.75", s)
	}
	if s := share(hotSeller, auctions); s < 0.70 || s > 0.80 {
		t.Errorf("hot seller share of auctions = %.3f, want about 0.75", s)
	}
	t.Logf("hot shares: auction %.4f, bidder %.4f, seller %.4f", share(hotAuction, bids), share(hotBidder, bids), share(hotSeller, auctions))
}

// extraLenRange returns the lengths nextExtra can return for a current size
// and an average.
func extraLenRange(currentSize, avg int) (lo, hi int) {
	if currentSize > avg {
		return 0, 0
	}
	d := avg - currentSize
	delta := int(float64(d)*0.2 + 0.5)
	if delta == 0 {
		return d, d
	}
	return d - delta, d + delta - 1
}

func TestFieldRanges(t *testing.T) {
	g := newTestGenerator(t, DefaultConfig())
	cfg := g.Config()
	states := map[string]bool{"AZ": true, "CA": true, "ID": true, "OR": true, "WA": true, "WY": true}
	cities := map[string]bool{}
	for _, c := range usCities {
		cities[c] = true
	}
	hot := map[string]bool{"Google": true, "Facebook": true, "Baidu": true, "Apple": true}
	checkPrice := func(n, p int64) {
		if p < 100 || p > 100_000_000 {
			t.Fatalf("event %d: price %d outside [100, 100000000]", n, p)
		}
	}
	checkLower := func(n int64, field, s string, allowSpace bool) {
		for _, c := range []byte(s) {
			if !('a' <= c && c <= 'z' || allowSpace && c == ' ') {
				t.Fatalf("event %d: %s %q has character %q", n, field, s, c)
			}
		}
		if strings.TrimSpace(s) != s {
			t.Fatalf("event %d: %s %q is not trimmed", n, field, s)
		}
	}
	var ev Event
	var bids, hotBids int
	for n := range int64(100000) {
		g.Event(n, &ev)
		switch ev.Type {
		case EventPerson:
			p := &ev.Person
			if !states[p.State] || !cities[p.City] {
				t.Fatalf("event %d: city/state %q/%q", n, p.City, p.State)
			}
			first, last, ok := strings.Cut(p.Name, " ")
			if !ok || first == "" || last == "" {
				t.Fatalf("event %d: name %q", n, p.Name)
			}
			local, domain, ok := strings.Cut(p.EmailAddress, "@")
			if !ok || !strings.HasSuffix(domain, ".com") || len(local) > 6 || len(domain)-4 > 4 {
				t.Fatalf("event %d: email %q", n, p.EmailAddress)
			}
			checkLower(n, "email local part", local, true)
			checkLower(n, "email domain", strings.TrimSuffix(domain, ".com"), true)
			groups := strings.Split(p.CreditCard, " ")
			if len(groups) != 4 {
				t.Fatalf("event %d: credit card %q", n, p.CreditCard)
			}
			for _, grp := range groups {
				if _, err := strconv.Atoi(grp); err != nil || len(grp) != 4 {
					t.Fatalf("event %d: credit card %q", n, p.CreditCard)
				}
			}
			size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
			if lo, hi := extraLenRange(size, cfg.AvgPersonByteSize); len(p.Extra) < lo || len(p.Extra) > hi {
				t.Fatalf("event %d: person extra length %d outside [%d, %d]", n, len(p.Extra), lo, hi)
			}
		case EventAuction:
			a := &ev.Auction
			if a.Category < 10 || a.Category > 14 {
				t.Fatalf("event %d: category %d", n, a.Category)
			}
			checkPrice(n, a.InitialBid)
			if a.Reserve <= a.InitialBid || a.Reserve-a.InitialBid > 100_000_000 {
				t.Fatalf("event %d: reserve %d, initial bid %d", n, a.Reserve, a.InitialBid)
			}
			// Horizon: 1666 events at 100 µs is 166 or 167 ms.
			if life := a.Expires - a.DateTime; life < 1 || life > 2*167 {
				t.Fatalf("event %d: auction lasts %d ms, want [1, 334]", n, life)
			}
			if len(a.ItemName) > 19 || len(a.Description) > 99 {
				t.Fatalf("event %d: item name %q / description %q too long", n, a.ItemName, a.Description)
			}
			checkLower(n, "item name", a.ItemName, true)
			checkLower(n, "description", a.Description, true)
			size := 8 + len(a.ItemName) + len(a.Description) + 40
			if lo, hi := extraLenRange(size, cfg.AvgAuctionByteSize); len(a.Extra) < lo || len(a.Extra) > hi {
				t.Fatalf("event %d: auction extra length %d outside [%d, %d]", n, len(a.Extra), lo, hi)
			}
		case EventBid:
			b := &ev.Bid
			checkPrice(n, b.Price)
			// 100 - 32 = 68, delta = round(13.6) = 14: 54 + [0, 28).
			if len(b.Extra) < 54 || len(b.Extra) > 81 {
				t.Fatalf("event %d: bid extra length %d outside [54, 81]", n, len(b.Extra))
			}
			if !strings.HasPrefix(b.URL, "https://www.nexmark.com/") {
				t.Fatalf("event %d: url %q", n, b.URL)
			}
			bids++
			if hot[b.Channel] {
				hotBids++
			} else if k, err := strconv.Atoi(strings.TrimPrefix(b.Channel, "channel-")); err != nil || k < 0 || k >= numChannels {
				t.Fatalf("event %d: channel %q", n, b.Channel)
			}
		}
		for _, extra := range []string{ev.Person.Extra, ev.Auction.Extra, ev.Bid.Extra} {
			for _, c := range []byte(extra) {
				if c < 'H' || c > 'z' {
					t.Fatalf("event %d: extra has character %q", n, c)
				}
			}
		}
	}
	if s := float64(hotBids) / float64(bids); s < 0.48 || s > 0.52 {
		t.Errorf("hot channel share = %.3f, want about 0.5", s)
	}
}

func TestChannelTable(t *testing.T) {
	tb := sharedTables()
	withID := 0
	for k := range numChannels {
		if want := "channel-" + strconv.Itoa(k); tb.channels[k] != want {
			t.Fatalf("channels[%d] = %q, want %q", k, tb.channels[k], want)
		}
		u := tb.urls[k]
		base, query, ok := strings.Cut(u, "/item.htm?query=1")
		if !ok || !strings.HasPrefix(base, "https://www.nexmark.com/") {
			t.Fatalf("urls[%d] = %q", k, u)
		}
		dirs := strings.Split(strings.TrimPrefix(base, "https://www.nexmark.com/"), "/")
		if len(dirs) != 3 {
			t.Fatalf("urls[%d] = %q: want 3 directories", k, u)
		}
		for _, d := range dirs {
			if len(d) < 3 || len(d) > 4 || strings.Trim(d, "abcdefghijklmnopqrstuvwxyz_") != "" {
				t.Fatalf("urls[%d] = %q: directory %q", k, u, d)
			}
		}
		if query == "" {
			continue
		}
		withID++
		id := int32(bits.Reverse32(uint32(k)))
		if id < 0 {
			id = -id
		}
		if want := "&channel_id=" + strconv.Itoa(int(id)); query != want {
			t.Fatalf("urls[%d] = %q, want it to end with %q", k, u, want)
		}
	}
	if withID < 8800 || withID > 9200 {
		t.Errorf("%d of %d channel URLs carry a channel_id, want about 90 %%", withID, numChannels)
	}
	// Java's Math.abs(Integer.reverse(1)) is Integer.MIN_VALUE.
	if u := tb.urls[1]; !strings.HasSuffix(u, "&channel_id=-2147483648") {
		t.Errorf("urls[1] = %q, want channel_id=-2147483648", u)
	}
	for i, u := range tb.hotURLs {
		if !strings.HasPrefix(u, "https://www.nexmark.com/") || !strings.HasSuffix(u, "/item.htm?query=1") {
			t.Errorf("hotURLs[%d] = %q", i, u)
		}
	}
	// The pool is Beam's nextExactString from new Random(extraPoolSeed); the
	// prefix was printed by the JDK.
	if want := "tjqcqsfvugufqopchblhaghazlvpusvjlfxzrhke"; !strings.HasPrefix(tb.extraPool, want) {
		t.Errorf("extra pool starts %q, want %q", tb.extraPool[:len(want)], want)
	}
	if len(tb.extraPool) != extraPoolSize {
		t.Errorf("extra pool has %d bytes, want %d", len(tb.extraPool), extraPoolSize)
	}
}

func TestAllocations(t *testing.T) {
	g := newTestGenerator(t, DefaultConfig())
	bidN := g.NextOfType(0, EventBid)
	personN := g.NextOfType(0, EventPerson)
	auctionN := g.NextOfType(0, EventAuction)
	var b Bid
	var ev Event
	tests := []struct {
		name string
		f    func()
		max  float64
	}{
		{"Bid", func() { g.Bid(bidN, &b) }, 0},
		{"Event(bid)", func() { g.Event(bidN, &ev) }, 0},
		{"Event(person)", func() { g.Event(personN, &ev) }, 1},
		{"Event(auction)", func() { g.Event(auctionN, &ev) }, 1},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
}

func BenchmarkBid(b *testing.B) {
	g := newTestGenerator(b, DefaultConfig())
	var bid Bid
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		n = g.NextOfType(n+1, EventBid)
		g.Bid(n, &bid)
	}
}

func BenchmarkEventMix(b *testing.B) {
	g := newTestGenerator(b, DefaultConfig())
	var ev Event
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		g.Event(n, &ev)
		n++
	}
}

func BenchmarkPerson(b *testing.B) {
	g := newTestGenerator(b, DefaultConfig())
	var p Person
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		n = g.NextOfType(n+1, EventPerson)
		g.Person(n, &p)
	}
}

func BenchmarkAuction(b *testing.B) {
	g := newTestGenerator(b, DefaultConfig())
	var a Auction
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		n = g.NextOfType(n+1, EventAuction)
		g.Auction(n, &a)
	}
}
