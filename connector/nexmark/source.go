package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir"
)

// SourceConfig configures a Nexmark source.
type SourceConfig struct {
	// Generator is the event generator's configuration.
	Generator Config
	// Events bounds the source to event numbers [0, Events) (all kinds
	// counted); 0 means unbounded.
	Events int64
	// Rate limits emission to this many events (all kinds counted) per
	// wall-clock second across all subtasks; 0 emits as fast as possible.
	// Event times stay synthetic whatever the rate.
	Rate int64
}

// DefaultSourceConfig returns an unbounded, unthrottled source of the
// default generator.
func DefaultSourceConfig() SourceConfig { return SourceConfig{Generator: DefaultConfig()} }

// Validate reports a configuration the source cannot run with.
func (c SourceConfig) Validate() error {
	if err := c.Generator.Validate(); err != nil {
		return err
	}
	if c.Events < 0 {
		return fmt.Errorf("nexmark: negative event count %d", c.Events)
	}
	if c.Rate < 0 {
		return fmt.Errorf("nexmark: negative rate %d", c.Rate)
	}
	return nil
}

// Source is a weir.Source of Nexmark records of type T: persons, auctions,
// bids, or all events.
//
// A fresh start at parallelism p makes p splits; split i owns the event
// numbers i, i+p, i+2p, ... and its position is how many of them it has
// consumed. Whatever the parallelism, and however splits move between
// subtasks on restore, every event number is emitted exactly once, with the
// same content and timestamp: a query's results do not depend on
// parallelism. A reader holding several splits emits their events in
// event-number order, so its timestamps never decrease.
type Source[T any] struct {
	cfg  SourceConfig
	g    *Generator
	kind EventType // -1: every event
	fill func(g *Generator, n int64, v *T)
	ts   func(v *T) int64
}

// Bids returns a source of the bids among the events.
func Bids(cfg SourceConfig) (*Source[Bid], error) {
	return newSource(cfg, EventBid, (*Generator).Bid, func(b *Bid) int64 { return b.DateTime })
}

// Persons returns a source of the new persons among the events.
func Persons(cfg SourceConfig) (*Source[Person], error) {
	return newSource(cfg, EventPerson, (*Generator).Person, func(p *Person) int64 { return p.DateTime })
}

// Auctions returns a source of the new auctions among the events.
func Auctions(cfg SourceConfig) (*Source[Auction], error) {
	return newSource(cfg, EventAuction, (*Generator).Auction, func(a *Auction) int64 { return a.DateTime })
}

// Events returns a source of every event.
func Events(cfg SourceConfig) (*Source[Event], error) {
	return newSource(cfg, -1, (*Generator).Event, (*Event).DateTime)
}

func newSource[T any](cfg SourceConfig, kind EventType, fill func(*Generator, int64, *T), ts func(*T) int64) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g, err := NewGenerator(cfg.Generator)
	if err != nil {
		return nil, err
	}
	return &Source[T]{cfg: cfg, g: g, kind: kind, fill: fill, ts: ts}, nil
}

// Generator returns the source's generator.
func (s *Source[T]) Generator() *Generator { return s.g }

// Bounded implements weir.Source.
func (s *Source[T]) Bounded() bool { return s.cfg.Events > 0 }

// Splits implements weir.Source.
func (s *Source[T]) Splits(p int) ([][]byte, error) {
	if p <= 0 {
		return nil, fmt.Errorf("nexmark: parallelism %d", p)
	}
	out := make([][]byte, p)
	for i := range out {
		out[i] = split{first: int64(i), stride: int64(p)}.encode()
	}
	return out, nil
}

// NewReader implements weir.Source.
func (s *Source[T]) NewReader(ctx weir.SourceContext) (weir.SourceReader[T], error) {
	return &reader[T]{s: s, now: ctx.Now}, nil
}

// split owns the event numbers first + k*stride for k >= consumed.
type split struct {
	first, stride, consumed int64
}

func (sp split) next() int64 { return sp.first + sp.consumed*sp.stride }

const splitVersion = 1

func (sp split) encode() []byte {
	b := []byte{splitVersion}
	b = binary.AppendUvarint(b, uint64(sp.first))
	b = binary.AppendUvarint(b, uint64(sp.stride))
	return binary.AppendUvarint(b, uint64(sp.consumed))
}

// ErrBadSplit is returned for split bytes this version cannot read.
var ErrBadSplit = errors.New("nexmark: malformed split")

func decodeSplit(b []byte) (split, error) {
	if len(b) == 0 || b[0] != splitVersion {
		return split{}, fmt.Errorf("%w: unknown version", ErrBadSplit)
	}
	b = b[1:]
	var f [3]uint64
	for i := range f {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxInt64/2 {
			return split{}, fmt.Errorf("%w: field %d", ErrBadSplit, i)
		}
		f[i], b = v, b[n:]
	}
	if len(b) != 0 || f[1] == 0 || f[0] >= f[1] {
		return split{}, fmt.Errorf("%w: first=%d stride=%d trailing=%d", ErrBadSplit, f[0], f[1], len(b))
	}
	return split{first: int64(f[0]), stride: int64(f[1]), consumed: int64(f[2])}, nil
}

type reader[T any] struct {
	s      *Source[T]
	splits []split
	now    func() int64
	// wall-clock pacing: event n is due at base + n/Rate.
	paced bool
	base  float64 // ms
	v     T
	_     [64]byte // keeps v off other subtasks' cache lines
}

func (r *reader[T]) AddSplits(splits [][]byte) error {
	for _, b := range splits {
		sp, err := decodeSplit(b)
		if err != nil {
			return err
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

// perRead bounds the records (and event numbers scanned) per Read.
const (
	perRead  = 1024
	perScan  = 8 * perRead
	maxSleep = 50 * time.Millisecond
)

func (r *reader[T]) Read(out weir.SourceOutput[T]) (weir.ReadStatus, error) {
	if len(r.splits) == 1 && r.s.cfg.Rate == 0 {
		return r.readOne(out), nil
	}
	limit := r.s.cfg.Events
	emitted := 0
	last := int64(-1) // the last event number consumed
	defer func() { r.progress(out, last) }()
	for scanned := 0; scanned < perScan && emitted < perRead; scanned++ {
		best := -1
		var n int64
		for i := range r.splits {
			m := r.splits[i].next()
			if limit > 0 && m >= limit {
				continue
			}
			if best < 0 || m < n {
				best, n = i, m
			}
		}
		if best < 0 {
			return weir.ReadStatus{Done: true}, nil
		}
		if rate := r.s.cfg.Rate; rate > 0 {
			now := float64(r.now())
			if !r.paced {
				r.paced, r.base = true, now-float64(n)*1000/float64(rate)
			}
			if due := r.base + float64(n)*1000/float64(rate); due > now {
				wait := time.Duration((due - now) * float64(time.Millisecond))
				return weir.ReadStatus{Wait: min(max(wait, time.Millisecond), maxSleep)}, nil
			}
		}
		r.splits[best].consumed++
		last = n
		if r.s.kind >= 0 && r.s.g.TypeOf(n) != r.s.kind {
			continue
		}
		r.s.fill(r.s.g, n, &r.v)
		out.Emit(&r.v, r.s.ts(&r.v))
		emitted++
	}
	return weir.ReadStatus{}, nil
}

// readOne is Read for the common case of one split and no rate limit.
func (r *reader[T]) readOne(out weir.SourceOutput[T]) weir.ReadStatus {
	// Work on a copy: the reader's split array is a small allocation that
	// may share a cache line with another subtask's.
	sp := r.splits[0]
	defer func() { r.splits[0] = sp }()
	g, kind, limit := r.s.g, r.s.kind, r.s.cfg.Events
	n := sp.next()
	end := n + perScan*sp.stride
	if limit > 0 && end > limit {
		end = limit
	}
	emitted := 0
	defer func() { r.progress(out, n-sp.stride) }()
	for ; n < end && emitted < perRead; n += sp.stride {
		sp.consumed++
		if kind >= 0 && g.TypeOf(n) != kind {
			continue
		}
		r.s.fill(g, n, &r.v)
		// An event's DateTime is Timestamp(n), which saves a call here.
		out.Emit(&r.v, g.Timestamp(n))
		emitted++
	}
	if limit > 0 && n >= limit {
		return weir.ReadStatus{Done: true}
	}
	return weir.ReadStatus{}
}

// progress tells the runtime that a source of one kind of event has read up
// to event number last (if last >= 0), events of other kinds included: event
// timestamps grow with event numbers, so its watermark may move on to that
// event's timestamp even if it emitted nothing. A subtask whose split holds
// no event of its kind (Persons at a parallelism that shares a factor with
// 50, since only every 50th event is a person) would otherwise hold back
// the watermark of every operator downstream forever.
func (r *reader[T]) progress(out weir.SourceOutput[T], last int64) {
	if r.s.kind < 0 || last < 0 {
		return
	}
	if p, ok := out.(weir.Progressor); ok {
		p.Progress(r.s.g.Timestamp(last))
	}
}

func (r *reader[T]) SnapshotSplits() ([][]byte, error) {
	out := make([][]byte, len(r.splits))
	for i, sp := range r.splits {
		out[i] = sp.encode()
	}
	return out, nil
}

func (r *reader[T]) Close() error { return nil }
