package queries

import (
	"strconv"
	"unicode/utf8"
)

// Q0Result is a bid passed through (q0) or with its price converted (q1
// uses Q1Result).
type Q0Result struct {
	Auction  int64  `json:"auction"`
	Bidder   int64  `json:"bidder"`
	Price    int64  `json:"price"`
	DateTime int64  `json:"date_time"`
	Extra    string `json:"extra"`
}

// AppendJSON appends r as a JSON object.
func (r Q0Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = strconv.AppendInt(b, r.Auction, 10)
	b = append(b, `,"bidder":`...)
	b = strconv.AppendInt(b, r.Bidder, 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendInt(b, r.Price, 10)
	b = append(b, `,"date_time":`...)
	b = strconv.AppendInt(b, r.DateTime, 10)
	b = append(b, `,"extra":`...)
	b = appendString(b, r.Extra)
	return append(b, '}')
}

// Q1Result is a bid with its price in euros: 0.908 × the dollar price.
type Q1Result struct {
	Auction  int64   `json:"auction"`
	Bidder   int64   `json:"bidder"`
	Price    float64 `json:"price"`
	DateTime int64   `json:"date_time"`
	Extra    string  `json:"extra"`
}

// AppendJSON appends r as a JSON object.
func (r Q1Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = strconv.AppendInt(b, r.Auction, 10)
	b = append(b, `,"bidder":`...)
	b = strconv.AppendInt(b, r.Bidder, 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendFloat(b, r.Price, 'f', -1, 64)
	b = append(b, `,"date_time":`...)
	b = strconv.AppendInt(b, r.DateTime, 10)
	b = append(b, `,"extra":`...)
	b = appendString(b, r.Extra)
	return append(b, '}')
}

// Q2Result is a selected bid's auction and price.
type Q2Result struct {
	Auction int64 `json:"auction"`
	Price   int64 `json:"price"`
}

// AppendJSON appends r as a JSON object.
func (r Q2Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = strconv.AppendInt(b, r.Auction, 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendInt(b, r.Price, 10)
	return append(b, '}')
}

// Q3Result is a seller in OR, ID or CA with an auction in category 10.
type Q3Result struct {
	Name  string `json:"name"`
	City  string `json:"city"`
	State string `json:"state"`
	ID    int64  `json:"id"`
}

// AppendJSON appends r as a JSON object.
func (r Q3Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"city":`...)
	b = appendString(b, r.City)
	b = append(b, `,"state":`...)
	b = appendString(b, r.State)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	return append(b, '}')
}

// Q5Result is an auction with the most bids in a sliding window.
type Q5Result struct {
	Auction     int64 `json:"auction"`
	Num         int64 `json:"num"`
	WindowStart int64 `json:"window_start"`
	WindowEnd   int64 `json:"window_end"`
}

// AppendJSON appends r as a JSON object.
func (r Q5Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = strconv.AppendInt(b, r.Auction, 10)
	b = append(b, `,"num":`...)
	b = strconv.AppendInt(b, r.Num, 10)
	return appendWindow(b, r.WindowStart, r.WindowEnd)
}

// Q7Result is a bid with the highest price of its tumbling window.
type Q7Result struct {
	Auction     int64  `json:"auction"`
	Price       int64  `json:"price"`
	Bidder      int64  `json:"bidder"`
	DateTime    int64  `json:"date_time"`
	Extra       string `json:"extra"`
	WindowStart int64  `json:"window_start"`
	WindowEnd   int64  `json:"window_end"`
}

// AppendJSON appends r as a JSON object.
func (r Q7Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = strconv.AppendInt(b, r.Auction, 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendInt(b, r.Price, 10)
	b = append(b, `,"bidder":`...)
	b = strconv.AppendInt(b, r.Bidder, 10)
	b = append(b, `,"date_time":`...)
	b = strconv.AppendInt(b, r.DateTime, 10)
	b = append(b, `,"extra":`...)
	b = appendString(b, r.Extra)
	return appendWindow(b, r.WindowStart, r.WindowEnd)
}

// Q8Result is a person who created an auction in the window they joined.
type Q8Result struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	WindowStart int64  `json:"window_start"`
	WindowEnd   int64  `json:"window_end"`
}

// AppendJSON appends r as a JSON object.
func (r Q8Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, r.Name)
	return appendWindow(b, r.WindowStart, r.WindowEnd)
}

// Q11Result is the number of bids of a bidder's session.
type Q11Result struct {
	Bidder      int64 `json:"bidder"`
	BidCount    int64 `json:"bid_count"`
	WindowStart int64 `json:"window_start"`
	WindowEnd   int64 `json:"window_end"`
}

// AppendJSON appends r as a JSON object.
func (r Q11Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"bidder":`...)
	b = strconv.AppendInt(b, r.Bidder, 10)
	b = append(b, `,"bid_count":`...)
	b = strconv.AppendInt(b, r.BidCount, 10)
	return appendWindow(b, r.WindowStart, r.WindowEnd)
}

func appendWindow(b []byte, start, end int64) []byte {
	b = append(b, `,"window_start":`...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, `,"window_end":`...)
	b = strconv.AppendInt(b, end, 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
