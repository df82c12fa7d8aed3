// Package orders is the job of the seed article on upgrading Flink jobs: a
// stream of orders (order_id, user_id, create_ts) arriving up to 2 s out of
// order, event-time watermarks with 2 s of bounded out-of-orderness, keyed
// by user, counted in 10 s tumbling windows by a process window function.
//
// The order source is deterministic and replayable: order n is a pure
// function of n, so a run's results can be compared exactly with any other
// run's, whatever the parallelism or the interruptions.
package orders

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/window"
)

// Order is one order.
type Order struct {
	OrderID  string `json:"order_id"`
	UserID   string `json:"user_id"`
	CreateTS int64  `json:"create_ts"`
}

// UserCount is the number of orders of a user in a window.
type UserCount struct {
	User        string `json:"user"`
	Count       int64  `json:"count"`
	WindowStart int64  `json:"window_start"`
	WindowEnd   int64  `json:"window_end"`
}

// AppendJSON appends c as a JSON object.
func (c UserCount) AppendJSON(b []byte) []byte {
	b = append(b, `{"user":`...)
	b = strconv.AppendQuote(b, c.User) // user ids are plain ASCII
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, c.Count, 10)
	b = append(b, `,"window_start":`...)
	b = strconv.AppendInt(b, c.WindowStart, 10)
	b = append(b, `,"window_end":`...)
	b = strconv.AppendInt(b, c.WindowEnd, 10)
	return append(b, '}')
}

// Users are the users who place orders, as in the article.
var Users = []string{"joha", "nina", "gru", "andi"}

// Config configures the order source.
type Config struct {
	// Orders bounds the source to orders [0, Orders); 0 is unbounded.
	Orders int64
	// Rate limits emission to this many orders per wall-clock second; 0 is
	// unlimited.
	Rate int64
	// BaseTime is the event time of order 0, in epoch milliseconds.
	BaseTime int64
	// Interval is the event-time spacing of orders.
	Interval time.Duration
	// MaxDelay bounds how late an order arrives after its creation, which is
	// also how far out of order it arrives.
	MaxDelay time.Duration
}

// DefaultConfig is 10 orders per second of event time, each less than 2 s
// behind the newest order seen before it (so within the job's 2 s bound),
// starting 2015-07-15T00:00:00Z.
func DefaultConfig() Config {
	return Config{BaseTime: 1436918400000, Interval: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
}

// At returns order n: it arrives n-th, was created at
// BaseTime + n*Interval - delay(n) with delay(n) in [0, MaxDelay - Interval].
func (c Config) At(n int64) Order {
	h := mix(uint64(n))
	step := c.Interval.Milliseconds()
	maxDelay := max(c.MaxDelay.Milliseconds()-step, 0)
	delay := int64(0)
	if maxDelay > 0 {
		delay = int64((h >> 8) % uint64(maxDelay+1))
	}
	return Order{
		OrderID:  "order-" + strconv.FormatInt(n, 10),
		UserID:   Users[h%uint64(len(Users))],
		CreateTS: c.BaseTime + n*step - delay,
	}
}

// mix is splitmix64's finalizer: a fixed, well-spread function of n.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Source is a weir.Source of orders. Split i of p owns orders i, i+p, ...;
// its position is how many it has consumed.
type Source struct {
	cfg Config
}

// NewSource returns an order source.
func NewSource(cfg Config) (*Source, error) {
	if cfg.Interval <= 0 || cfg.MaxDelay < 0 || cfg.Orders < 0 || cfg.Rate < 0 {
		return nil, fmt.Errorf("orders: invalid config %+v", cfg)
	}
	return &Source{cfg: cfg}, nil
}

// Bounded implements weir.Source.
func (s *Source) Bounded() bool { return s.cfg.Orders > 0 }

// Splits implements weir.Source.
func (s *Source) Splits(p int) ([][]byte, error) {
	out := make([][]byte, p)
	for i := range out {
		out[i] = encodeSplit(split{first: int64(i), stride: int64(p)})
	}
	return out, nil
}

// NewReader implements weir.Source.
func (s *Source) NewReader(ctx weir.SourceContext) (weir.SourceReader[Order], error) {
	return &reader{cfg: s.cfg, now: ctx.Now}, nil
}

type split struct{ first, stride, consumed int64 }

func (sp split) next() int64 { return sp.first + sp.consumed*sp.stride }

func encodeSplit(sp split) []byte {
	b := binary.AppendUvarint(nil, uint64(sp.first))
	b = binary.AppendUvarint(b, uint64(sp.stride))
	return binary.AppendUvarint(b, uint64(sp.consumed))
}

var errSplit = errors.New("orders: malformed split")

func decodeSplit(b []byte) (split, error) {
	var f [3]uint64
	for i := range f {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<62 {
			return split{}, errSplit
		}
		f[i], b = v, b[n:]
	}
	if len(b) != 0 || f[1] == 0 || f[0] >= f[1] {
		return split{}, errSplit
	}
	return split{int64(f[0]), int64(f[1]), int64(f[2])}, nil
}

type reader struct {
	cfg    Config
	splits []split
	now    func() int64
	paced  bool
	base   float64
	o      Order // the order being emitted
}

func (r *reader) AddSplits(b [][]byte) error {
	for _, x := range b {
		sp, err := decodeSplit(x)
		if err != nil {
			return err
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

func (r *reader) Read(out weir.SourceOutput[Order]) (weir.ReadStatus, error) {
	for emitted := 0; emitted < 1024; emitted++ {
		best := -1
		var n int64
		for i := range r.splits {
			m := r.splits[i].next()
			if r.cfg.Orders > 0 && m >= r.cfg.Orders {
				continue
			}
			if best < 0 || m < n {
				best, n = i, m
			}
		}
		if best < 0 {
			return weir.ReadStatus{Done: true}, nil
		}
		if r.cfg.Rate > 0 {
			now := float64(r.now())
			if !r.paced {
				r.paced, r.base = true, now-float64(n)*1000/float64(r.cfg.Rate)
			}
			if due := r.base + float64(n)*1000/float64(r.cfg.Rate); due > now {
				return weir.ReadStatus{Wait: time.Duration((due - now) * float64(time.Millisecond))}, nil
			}
		}
		r.splits[best].consumed++
		r.o = r.cfg.At(n)
		out.Emit(&r.o, r.o.CreateTS)
	}
	return weir.ReadStatus{}, nil
}

func (r *reader) SnapshotSplits() ([][]byte, error) {
	out := make([][]byte, len(r.splits))
	for i, sp := range r.splits {
		out[i] = encodeSplit(sp)
	}
	return out, nil
}

func (r *reader) Close() error { return nil }

// Build adds the orders job to env and returns its per-user window counts.
func Build(env *weir.Environment, cfg Config) (weir.Stream[UserCount], error) {
	src, err := NewSource(cfg)
	if err != nil {
		return weir.Stream[UserCount]{}, err
	}
	orders := weir.FromSource(env, src,
		weir.BoundedOutOfOrderness[Order](2*time.Second).
			WithTimestampAssigner(func(o Order, _ int64) int64 { return o.CreateTS })).
		UID("orders-source").Name("orders")
	counts := weir.WindowProcess(
		weir.KeyBy(orders, func(o Order) string { return o.UserID }).
			Window(window.TumblingEventTime(10*time.Second)),
		func(user string, w window.TimeWindow, in iter.Seq[Order], out weir.Collector[UserCount]) error {
			var n int64
			for range in {
				n++
			}
			out.Collect(UserCount{User: user, Count: n, WindowStart: w.Start, WindowEnd: w.End})
			return nil
		})
	return counts.UID("orders-per-user").Name("orders-per-user"), nil
}
