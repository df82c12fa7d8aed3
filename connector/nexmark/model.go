package nexmark

import "strconv"

// Person is a new user of the auction site (Nexmark's person table).
type Person struct {
	// ID is FirstPersonID plus the number of persons generated before it.
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	// State is one of AZ, CA, ID, OR, WA, WY.
	State string
	// DateTime is the event time, in milliseconds since the Unix epoch.
	DateTime int64
	// Extra pads the person to about Config.AvgPersonByteSize.
	Extra string
}

// Auction is a new item for sale (Nexmark's auction table).
type Auction struct {
	// ID is FirstAuctionID plus the number of auctions generated before it.
	ID          int64
	ItemName    string
	Description string
	// InitialBid and Reserve are prices in cents; Reserve > InitialBid.
	InitialBid int64
	Reserve    int64
	// DateTime is the event time and Expires the end of the auction, both in
	// milliseconds since the Unix epoch; Expires > DateTime.
	DateTime int64
	Expires  int64
	// Seller is a Person.ID.
	Seller int64
	// Category is in [FirstCategoryID, FirstCategoryID+NumCategories).
	Category int64
	// Extra pads the auction to about Config.AvgAuctionByteSize.
	Extra string
}

// Bid is a bid on an auction (Nexmark's bid table, with the Flink suite's
// channel and url columns).
type Bid struct {
	// Auction is an Auction.ID; it may refer to an auction up to 10 ids past
	// the latest one generated.
	Auction int64
	// Bidder is a Person.ID; it may refer to a person up to 10 ids past the
	// latest one generated.
	Bidder int64
	// Price is in cents, in [100, 100_000_000], log-uniform.
	Price int64
	// Channel is "Google", "Facebook", "Baidu", "Apple" or "channel-<k>" with
	// k in [0, 10000).
	Channel string
	// URL is the page the bid was made from; for most non-hot channels it ends
	// with "&channel_id=<id>".
	URL string
	// DateTime is the event time, in milliseconds since the Unix epoch.
	DateTime int64
	// Extra pads the bid to about Config.AvgBidByteSize.
	Extra string
}

// EventType is the kind of a Nexmark event, numbered as the event_type column
// of the Flink suite's datagen table.
type EventType int8

// The event types.
const (
	EventPerson  EventType = 0
	EventAuction EventType = 1
	EventBid     EventType = 2
)

// String returns "person", "auction" or "bid".
func (t EventType) String() string {
	switch t {
	case EventPerson:
		return "person"
	case EventAuction:
		return "auction"
	case EventBid:
		return "bid"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one Nexmark event. Only the field selected by Type is meaningful;
// Generator.Event sets the other two to their zero values.
type Event struct {
	Type    EventType
	Person  Person
	Auction Auction
	Bid     Bid
}

// DateTime returns the event time of the entity selected by e.Type.
func (e *Event) DateTime() int64 {
	switch e.Type {
	case EventPerson:
		return e.Person.DateTime
	case EventAuction:
		return e.Auction.DateTime
	default:
		return e.Bid.DateTime
	}
}
