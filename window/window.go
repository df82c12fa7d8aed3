// Package window defines time windows and the assigners that place records
// into them: tumbling, sliding and session windows, in event time or
// processing time.
//
// Windows are half-open intervals [Start, End) in epoch milliseconds. A
// window fires when time passes End-1 (its MaxTimestamp); results carry that
// timestamp.
package window

import (
	"fmt"
	"time"
)

// TimeWindow is the interval [Start, End) in epoch milliseconds.
type TimeWindow struct {
	Start, End int64
}

// MaxTimestamp returns the last timestamp inside the window, End-1.
func (w TimeWindow) MaxTimestamp() int64 { return w.End - 1 }

// Intersects reports whether w and o overlap or touch; touching session
// windows merge.
func (w TimeWindow) Intersects(o TimeWindow) bool { return w.Start <= o.End && w.End >= o.Start }

// Cover returns the smallest window containing w and o.
func (w TimeWindow) Cover(o TimeWindow) TimeWindow {
	return TimeWindow{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

// String formats the window as [start, end).
func (w TimeWindow) String() string { return fmt.Sprintf("[%d, %d)", w.Start, w.End) }

type kind uint8

const (
	tumbling kind = iota + 1
	sliding
	session
)

// Assigner places each record into windows. Create one with the functions
// of this package; the zero Assigner is invalid.
type Assigner struct {
	kind      kind
	eventTime bool
	size      int64
	slide     int64
	offset    int64
	gap       int64
}

// TumblingEventTime returns fixed-size, non-overlapping windows in event
// time, aligned to the epoch (plus an optional offset).
func TumblingEventTime(size time.Duration) Assigner {
	return Assigner{kind: tumbling, eventTime: true, size: size.Milliseconds()}
}

// TumblingProcessingTime is TumblingEventTime in processing time.
func TumblingProcessingTime(size time.Duration) Assigner {
	return Assigner{kind: tumbling, size: size.Milliseconds()}
}

// SlidingEventTime returns windows of the given size starting every slide,
// in event time; a record belongs to size/slide windows.
func SlidingEventTime(size, slide time.Duration) Assigner {
	return Assigner{kind: sliding, eventTime: true, size: size.Milliseconds(), slide: slide.Milliseconds()}
}

// SlidingProcessingTime is SlidingEventTime in processing time.
func SlidingProcessingTime(size, slide time.Duration) Assigner {
	return Assigner{kind: sliding, size: size.Milliseconds(), slide: slide.Milliseconds()}
}

// EventTimeSession returns session windows in event time: a key's records
// closer than gap to each other fall into one window, which ends gap after
// its last record.
func EventTimeSession(gap time.Duration) Assigner {
	return Assigner{kind: session, eventTime: true, gap: gap.Milliseconds()}
}

// ProcessingTimeSession is EventTimeSession in processing time.
func ProcessingTimeSession(gap time.Duration) Assigner {
	return Assigner{kind: session, gap: gap.Milliseconds()}
}

// WithOffset shifts the alignment of tumbling and sliding windows, for
// example to align daily windows to a time zone.
func (a Assigner) WithOffset(d time.Duration) Assigner {
	a.offset = d.Milliseconds()
	return a
}

// Validate reports an assigner that cannot assign windows.
func (a Assigner) Validate() error {
	switch a.kind {
	case tumbling:
		if a.size <= 0 {
			return fmt.Errorf("window: tumbling window size must be at least 1ms, got %dms", a.size)
		}
		if a.offset <= -a.size || a.offset >= a.size {
			return fmt.Errorf("window: offset %dms must be within (-size, size) = (-%dms, %dms)", a.offset, a.size, a.size)
		}
	case sliding:
		if a.size <= 0 || a.slide <= 0 {
			return fmt.Errorf("window: sliding window size and slide must be at least 1ms, got %dms and %dms", a.size, a.slide)
		}
		if a.offset <= -a.slide || a.offset >= a.slide {
			return fmt.Errorf("window: offset %dms must be within (-slide, slide) = (-%dms, %dms)", a.offset, a.slide, a.slide)
		}
	case session:
		if a.gap <= 0 {
			return fmt.Errorf("window: session gap must be at least 1ms, got %dms", a.gap)
		}
		if a.offset != 0 {
			return fmt.Errorf("window: session windows have no offset")
		}
	default:
		return fmt.Errorf("window: the zero Assigner assigns no windows; use TumblingEventTime and friends")
	}
	return nil
}

// IsEventTime reports whether the assigner works in event time.
func (a Assigner) IsEventTime() bool { return a.eventTime }

// IsMerging reports whether windows may merge (session windows).
func (a Assigner) IsMerging() bool { return a.kind == session }

// Assign appends the windows for a record at time ts (event or processing
// time, per the assigner) to dst.
func (a Assigner) Assign(dst []TimeWindow, ts int64) []TimeWindow {
	switch a.kind {
	case tumbling:
		start := windowStart(ts, a.offset, a.size)
		return append(dst, TimeWindow{start, start + a.size})
	case sliding:
		last := windowStart(ts, a.offset, a.slide)
		for start := last; start > ts-a.size; start -= a.slide {
			dst = append(dst, TimeWindow{start, start + a.size})
		}
		return dst
	case session:
		return append(dst, TimeWindow{ts, ts + a.gap})
	}
	return dst
}

// String describes the assigner.
func (a Assigner) String() string {
	domain := "processing-time"
	if a.eventTime {
		domain = "event-time"
	}
	switch a.kind {
	case tumbling:
		return fmt.Sprintf("tumbling %s %dms", domain, a.size)
	case sliding:
		return fmt.Sprintf("sliding %s %dms every %dms", domain, a.size, a.slide)
	case session:
		return fmt.Sprintf("session %s gap %dms", domain, a.gap)
	}
	return "invalid"
}

// windowStart is the start of the window of the given size containing ts,
// also for negative timestamps.
func windowStart(ts, offset, size int64) int64 {
	r := (ts - offset) % size
	if r < 0 {
		r += size
	}
	return ts - r
}
