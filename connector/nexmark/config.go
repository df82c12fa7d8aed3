package nexmark

import (
	"errors"
	"fmt"
	"math"
)

// Identifier constants shared by Beam's and Flink's Nexmark generators. Ids
// start at these values rather than at 0 so that queries find matches even on
// small data sets.
const (
	// FirstPersonID is the id of the first person; person ids are
	// FirstPersonID, FirstPersonID+1, ... in event order.
	FirstPersonID = 1000
	// FirstAuctionID is the id of the first auction; auction ids are
	// FirstAuctionID, FirstAuctionID+1, ... in event order.
	FirstAuctionID = 1000
	// FirstCategoryID is the smallest auction category.
	FirstCategoryID = 10
	// NumCategories is the number of auction categories: categories are
	// FirstCategoryID .. FirstCategoryID+NumCategories-1.
	NumCategories = 5
)

// Constants of the generator that are not configurable in Beam or Flink.
const (
	// personIDLead and auctionIDLead are how many ids past the last generated
	// person/auction a "random" reference may point to, so that some bids and
	// auctions appear to arrive before the entity they refer to.
	personIDLead  = 10
	auctionIDLead = 10

	// hotSellerBlock, hotAuctionBlock and hotBidderBlock: the hot seller,
	// auction and bidder is the first (second, for bidders) of the latest block
	// of this many persons/auctions.
	hotSellerBlock  = 100
	hotAuctionBlock = 100
	hotBidderBlock  = 100

	// hotChannelsRatio: a bid comes from one of the hot channels with
	// probability 1 - 1/hotChannelsRatio (Flink's HOT_CHANNELS_RATIO).
	hotChannelsRatio = 2
	// numChannels is the number of non-hot channels (Flink's CHANNELS_NUMBER).
	numChannels = 10000
)

// maxAvgByteSize bounds the Avg*ByteSize settings so that an extra field
// (at most 1.2 times the average) always fits in the 1 MiB extra pool.
const maxAvgByteSize = 1 << 19

// maxProportion bounds each proportion; real configurations use small values
// (1/3/46) and the bound keeps every product of ids and proportions far from
// overflow.
const maxProportion = 1 << 20

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("nexmark: invalid config")

// Config parameterises a Generator. The zero value is not valid; start from
// DefaultConfig. The defaults are those of Beam's and Flink's Nexmark
// configurations.
type Config struct {
	// FirstEventRate is the rate of events per second of event time (not of
	// emission): event k has timestamp BaseTime + floor(k * 1e6/FirstEventRate) / 1000
	// milliseconds. Default 10,000. It does not limit how fast events are
	// produced.
	FirstEventRate int64

	// PersonProportion, AuctionProportion and BidProportion give the mix of
	// events: out of every PersonProportion+AuctionProportion+BidProportion
	// consecutive event ids, the first PersonProportion are persons, the next
	// AuctionProportion are auctions and the rest bids. Defaults 1, 3 and 46
	// (2 %, 6 % and 92 %).
	PersonProportion  int
	AuctionProportion int
	BidProportion     int

	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize are the average
	// sizes, in Nexmark's nominal accounting (8 bytes per number and timestamp,
	// one per character), that the Extra field pads each kind of event to.
	// Defaults 200, 500 and 100. At most 512 KiB.
	AvgPersonByteSize  int
	AvgAuctionByteSize int
	AvgBidByteSize     int

	// HotAuctionRatio: a bid is for the current hot auction with probability
	// 1 - 1/HotAuctionRatio. Default 2 (50 %).
	HotAuctionRatio int
	// HotSellersRatio: an auction is by the current hot seller with
	// probability 1 - 1/HotSellersRatio. Default 4 (75 %).
	HotSellersRatio int
	// HotBiddersRatio: a bid is by the current hot bidder with probability
	// 1 - 1/HotBiddersRatio. Default 4 (75 %).
	HotBiddersRatio int

	// NumInFlightAuctions is how many of the latest auctions a bid for a
	// non-hot auction may refer to; it also sets the auction length: an
	// auction lasts on average as long as it takes to generate this many more
	// auctions. Default 100.
	NumInFlightAuctions int
	// NumActivePeople is how many of the latest persons a non-hot seller or
	// bidder is drawn from. Default 1000.
	NumActivePeople int

	// BaseTime is the timestamp of event 0, in milliseconds since the Unix
	// epoch. Default 1436918400000 (2015-07-15T00:00:00Z, as Beam).
	BaseTime int64
	// FirstEventID is the id of event 0; event k has id FirstEventID + k, and
	// the id alone decides the event's kind and seeds its random fields.
	// Default 0 (as Beam; Flink's table source uses 1).
	FirstEventID int64
}

// DefaultBaseTime is 2015-07-15T00:00:00Z in milliseconds since the Unix
// epoch, Beam's base time and the default Config.BaseTime.
const DefaultBaseTime int64 = 1436918400000

// DefaultConfig returns the Beam/Flink default configuration.
func DefaultConfig() Config {
	return Config{
		FirstEventRate:      10000,
		PersonProportion:    1,
		AuctionProportion:   3,
		BidProportion:       46,
		AvgPersonByteSize:   200,
		AvgAuctionByteSize:  500,
		AvgBidByteSize:      100,
		HotAuctionRatio:     2,
		HotSellersRatio:     4,
		HotBiddersRatio:     4,
		NumInFlightAuctions: 100,
		NumActivePeople:     1000,
		BaseTime:            DefaultBaseTime,
		FirstEventID:        0,
	}
}

// Validate reports every setting of c that is out of range, joined in one
// error that wraps ErrInvalidConfig, or nil if c is usable.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, want string) {
		errs = append(errs, fmt.Errorf("%w: %s is %v; it must be %s", ErrInvalidConfig, field, value, want))
	}
	if c.FirstEventRate <= 0 {
		bad("FirstEventRate", c.FirstEventRate, "> 0 events per second")
	}
	for _, p := range []struct {
		name  string
		value int
	}{
		{"PersonProportion", c.PersonProportion},
		{"AuctionProportion", c.AuctionProportion},
		{"BidProportion", c.BidProportion},
	} {
		if p.value < 1 || p.value > maxProportion {
			bad(p.name, p.value, fmt.Sprintf("in [1, %d]", maxProportion))
		}
	}
	for _, s := range []struct {
		name  string
		value int
	}{
		{"AvgPersonByteSize", c.AvgPersonByteSize},
		{"AvgAuctionByteSize", c.AvgAuctionByteSize},
		{"AvgBidByteSize", c.AvgBidByteSize},
	} {
		if s.value < 0 || s.value > maxAvgByteSize {
			bad(s.name, s.value, fmt.Sprintf("in [0, %d]", maxAvgByteSize))
		}
	}
	for _, r := range []struct {
		name  string
		value int
	}{
		{"HotAuctionRatio", c.HotAuctionRatio},
		{"HotSellersRatio", c.HotSellersRatio},
		{"HotBiddersRatio", c.HotBiddersRatio},
	} {
		if r.value < 1 || r.value > math.MaxInt32 {
			bad(r.name, r.value, "in [1, 2^31-1] (1 disables the hot key)")
		}
	}
	if c.NumInFlightAuctions < 1 || c.NumInFlightAuctions > math.MaxInt32 {
		bad("NumInFlightAuctions", c.NumInFlightAuctions, "in [1, 2^31-1]")
	}
	if c.NumActivePeople < 1 || c.NumActivePeople > math.MaxInt32 {
		bad("NumActivePeople", c.NumActivePeople, "in [1, 2^31-1]")
	}
	if c.FirstEventID < 0 {
		bad("FirstEventID", c.FirstEventID, ">= 0")
	}
	return errors.Join(errs...)
}
