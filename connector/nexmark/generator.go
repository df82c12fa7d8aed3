package nexmark

import (
	"fmt"
	"math"
)

// Generator produces Nexmark events as a pure function of their event number.
//
// Event number n (n >= 0) has event id Config.FirstEventID + n; the id decides
// the event's type and seeds a java.util.Random-equivalent from which all of
// its random fields are drawn in Beam's order. Its timestamp depends on n
// alone. No state is carried from one event to the next, so events may be
// generated in any order, by any number of goroutines or processes, and a
// reader that resumes at event n produces exactly what it would have produced
// without stopping.
//
// A Generator is immutable after NewGenerator and safe for concurrent use by
// multiple goroutines.
type Generator struct {
	cfg Config
	t   *tables

	total    int64   // PersonProportion + AuctionProportion + BidProportion
	person   int64   // PersonProportion
	auction  int64   // AuctionProportion
	delayUs  float64 // event-time microseconds between consecutive events
	auctionN int64   // events it takes to generate NumInFlightAuctions auctions
}

// NewGenerator returns a Generator for cfg, or an error wrapping
// ErrInvalidConfig if cfg does not validate. The first call in a process also
// builds the read-only tables every Generator shares (about 2 MiB: the extra
// pool, the channel URLs and a table of powers of ten), which takes a few
// milliseconds.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:     cfg,
		t:       sharedTables(),
		total:   int64(cfg.PersonProportion + cfg.AuctionProportion + cfg.BidProportion),
		person:  int64(cfg.PersonProportion),
		auction: int64(cfg.AuctionProportion),
		// As Flink's GeneratorConfig (a double, not Beam's rounded long),
		// with a single generator: the whole timeline runs at FirstEventRate.
		delayUs: 1e6 / float64(cfg.FirstEventRate),
	}
	g.auctionN = int64(cfg.NumInFlightAuctions) * g.total / g.auction
	return g, nil
}

// Config returns the configuration g was created with.
func (g *Generator) Config() Config { return g.cfg }

// TypeOf returns the type of event number n (n >= 0). It draws no random
// numbers.
func (g *Generator) TypeOf(n int64) EventType {
	rem := (g.cfg.FirstEventID + n) % g.total
	switch {
	case rem < g.person:
		return EventPerson
	case rem < g.person+g.auction:
		return EventAuction
	default:
		return EventBid
	}
}

// NextOfType returns the smallest event number m >= n (n >= 0) with
// TypeOf(m) == t, in constant time. It panics if t is not one of EventPerson,
// EventAuction and EventBid.
func (g *Generator) NextOfType(n int64, t EventType) int64 {
	var lo, hi int64 // t's event ids have id % total in [lo, hi)
	switch t {
	case EventPerson:
		lo, hi = 0, g.person
	case EventAuction:
		lo, hi = g.person, g.person+g.auction
	case EventBid:
		lo, hi = g.person+g.auction, g.total
	default:
		panic(fmt.Sprintf("nexmark: NextOfType: unknown event type %d", t))
	}
	rem := (g.cfg.FirstEventID + n) % g.total
	switch {
	case rem < lo:
		return n + lo - rem
	case rem < hi:
		return n
	default:
		return n + g.total - rem + lo
	}
}

// Timestamp returns the event time of event number n (n >= 0), in
// milliseconds since the Unix epoch:
//
//	BaseTime + int64(float64(n) * (1e6 / float64(FirstEventRate))) / 1000
//
// that is, the offset n * 1e6/FirstEventRate is computed in float64
// microseconds, truncated to an integer and then divided by 1000 (truncating),
// as Flink's GeneratorConfig.timestampForEvent does. Timestamps are
// non-decreasing in n.
func (g *Generator) Timestamp(n int64) int64 {
	return g.cfg.BaseTime + int64(float64(n)*g.delayUs)/1000
}

// Event stores event number n (n >= 0) in ev: ev.Type and the matching field
// are set and the two other fields are zeroed. Strings in the event share
// read-only memory with the generator; a Bid costs no allocation, a Person
// or an Auction one.
func (g *Generator) Event(n int64, ev *Event) {
	ev.Type = g.TypeOf(n)
	switch ev.Type {
	case EventPerson:
		g.person0(n, &ev.Person)
		ev.Auction = Auction{}
		ev.Bid = Bid{}
	case EventAuction:
		g.auction0(n, &ev.Auction)
		ev.Person = Person{}
		ev.Bid = Bid{}
	default:
		g.bid(n, &ev.Bid)
		ev.Person = Person{}
		ev.Auction = Auction{}
	}
}

// Person stores event number n in p. It panics unless TypeOf(n) is
// EventPerson (see NextOfType).
func (g *Generator) Person(n int64, p *Person) {
	if g.TypeOf(n) != EventPerson {
		wrongType(n, EventPerson, g.TypeOf(n))
	}
	g.person0(n, p)
}

// Auction stores event number n in a. It panics unless TypeOf(n) is
// EventAuction (see NextOfType).
func (g *Generator) Auction(n int64, a *Auction) {
	if g.TypeOf(n) != EventAuction {
		wrongType(n, EventAuction, g.TypeOf(n))
	}
	g.auction0(n, a)
}

// Bid stores event number n in b. It panics unless TypeOf(n) is EventBid (see
// NextOfType). It does not allocate.
func (g *Generator) Bid(n int64, b *Bid) {
	if g.TypeOf(n) != EventBid {
		wrongType(n, EventBid, g.TypeOf(n))
	}
	g.bid(n, b)
}

func wrongType(n int64, want, got EventType) {
	panic(fmt.Sprintf("nexmark: event %d is a %v, not a %v", n, got, want))
}

// person0 is Beam's PersonGenerator.nextPerson.
func (g *Generator) person0(n int64, p *Person) {
	id := g.cfg.FirstEventID + n
	var r javaRandom
	r.setSeed(id)

	p.ID = g.lastBase0PersonID(id) + FirstPersonID
	f := r.nextIntn(int32(len(firstNames)))
	l := r.nextIntn(int32(len(lastNames)))
	p.Name = g.t.names[int(f)*len(lastNames)+int(l)]

	// Email and credit card share one allocation.
	var buf [64]byte
	b := appendString(buf[:0], &r, 7, ' ')
	b = append(b, '@')
	b = appendString(b, &r, 5, ' ')
	b = append(b, ".com"...)
	emailEnd := len(b)
	for i := range 4 {
		if i > 0 {
			b = append(b, ' ')
		}
		v := r.nextIntn(10000)
		b = append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	s := string(b)
	p.EmailAddress = s[:emailEnd]
	p.CreditCard = s[emailEnd:]

	p.City = usCities[r.nextIntn(int32(len(usCities)))]
	p.State = usStates[r.nextIntn(int32(len(usStates)))]
	p.DateTime = g.Timestamp(n)
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = g.t.nextExtra(&r, size, g.cfg.AvgPersonByteSize)
}

// auction0 is Beam's AuctionGenerator.nextAuction.
func (g *Generator) auction0(n int64, a *Auction) {
	id := g.cfg.FirstEventID + n
	var r javaRandom
	r.setSeed(id)

	ts := g.Timestamp(n)
	a.ID = g.lastBase0AuctionID(id) + FirstAuctionID
	if r.nextIntn(int32(g.cfg.HotSellersRatio)) > 0 {
		a.Seller = g.lastBase0PersonID(id) / hotSellerBlock * hotSellerBlock
	} else {
		a.Seller = g.nextBase0PersonID(id, &r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + int64(r.nextIntn(NumCategories))
	a.InitialBid = g.t.pow10.nextPrice(&r)

	// An auction lasts 1 + nextLong(2*horizon) ms, where horizon is the event
	// time it takes to generate NumInFlightAuctions more auctions.
	horizon := g.Timestamp(n+g.auctionN) - ts
	a.Expires = ts + 1 + nextLong(&r, max(2*horizon, 1))

	// Item name and description share one allocation.
	var buf [128]byte
	b := appendString(buf[:0], &r, 20, ' ')
	nameEnd := len(b)
	b = appendString(b, &r, 100, ' ')
	s := string(b)
	a.ItemName = s[:nameEnd]
	a.Description = s[nameEnd:]

	a.Reserve = a.InitialBid + g.t.pow10.nextPrice(&r)
	a.DateTime = ts
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = g.t.nextExtra(&r, size, g.cfg.AvgAuctionByteSize)
}

// bid is Beam's BidGenerator.nextBid with the channel and url of Flink's,
// drawn where Flink draws them (after the price, before the extra). The
// bidder gets FirstPersonID once, as in Beam (Flink adds it twice).
func (g *Generator) bid(n int64, b *Bid) {
	id := g.cfg.FirstEventID + n
	var r javaRandom
	r.setSeed(id)

	if r.nextIntn(int32(g.cfg.HotAuctionRatio)) > 0 {
		b.Auction = g.lastBase0AuctionID(id) / hotAuctionBlock * hotAuctionBlock
	} else {
		b.Auction = g.nextBase0AuctionID(id, &r)
	}
	b.Auction += FirstAuctionID

	if r.nextIntn(int32(g.cfg.HotBiddersRatio)) > 0 {
		// The second person of the block, so that the hot bidder is not the
		// hot seller.
		b.Bidder = g.lastBase0PersonID(id)/hotBidderBlock*hotBidderBlock + 1
	} else {
		b.Bidder = g.nextBase0PersonID(id, &r)
	}
	b.Bidder += FirstPersonID

	b.Price = g.t.pow10.nextPrice(&r)

	if r.nextIntn(hotChannelsRatio) > 0 {
		i := r.nextIntn(int32(len(hotChannels)))
		b.Channel = hotChannels[i]
		b.URL = g.t.hotURLs[i]
	} else {
		k := r.nextIntn(numChannels)
		b.Channel = g.t.channels[k]
		b.URL = g.t.urls[k]
	}

	b.DateTime = g.Timestamp(n)
	b.Extra = g.t.nextExtra(&r, 8+8+8+8, g.cfg.AvgBidByteSize)
}

// lastBase0PersonID returns the 0-based id of the latest person generated at
// or before event id (the event's own id if it is a person).
func (g *Generator) lastBase0PersonID(id int64) int64 {
	epoch, off := id/g.total, id%g.total
	if off >= g.person {
		off = g.person - 1
	}
	return epoch*g.person + off
}

// lastBase0AuctionID returns the 0-based id of the latest auction generated at
// or before event id (the event's own id if it is an auction).
func (g *Generator) lastBase0AuctionID(id int64) int64 {
	epoch, off := id/g.total, id%g.total
	switch {
	case off < g.person:
		epoch--
		off = g.auction - 1
	case off >= g.person+g.auction:
		off = g.auction - 1
	default:
		off -= g.person
	}
	return epoch*g.auction + off
}

// nextBase0PersonID draws a 0-based person id among the NumActivePeople latest
// persons and the personIDLead ones yet to come.
func (g *Generator) nextBase0PersonID(id int64, r *javaRandom) int64 {
	num := g.lastBase0PersonID(id) + 1
	active := min(num, int64(g.cfg.NumActivePeople))
	return num - active + nextLong(r, active+personIDLead)
}

// nextBase0AuctionID draws a 0-based auction id among the NumInFlightAuctions
// latest auctions and the auctionIDLead ones yet to come.
func (g *Generator) nextBase0AuctionID(id int64, r *javaRandom) int64 {
	hi := g.lastBase0AuctionID(id)
	lo := max(hi-int64(g.cfg.NumInFlightAuctions), 0)
	return lo + nextLong(r, hi-lo+1+auctionIDLead)
}

// nextLong draws a value in [0, n), n > 0, as Beam's LongGenerator.nextLong:
// one nextIntn below 2^31-1, else abs(nextLong() % n).
func nextLong(r *javaRandom, n int64) int64 {
	if n < math.MaxInt32 {
		return int64(r.nextIntn(int32(n)))
	}
	v := r.nextLong() % n
	if v < 0 {
		v = -v
	}
	return v
}
