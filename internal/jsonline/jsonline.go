// Package jsonline encodes records as lines of JSON for the sinks that
// write them (file, stdout): with the record's own AppendJSON method when it
// has one — chosen once per type, so that path neither reflects nor
// allocates — and with encoding/json otherwise.
package jsonline

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Appender is implemented by records that encode themselves as one compact
// JSON value, appended to b (no newline). It must not keep b.
type Appender interface {
	AppendJSON(b []byte) []byte
}

// Buffer is an io.Writer that appends to B.
type Buffer struct{ B []byte }

// Write implements io.Writer.
func (a *Buffer) Write(p []byte) (int, error) {
	a.B = append(a.B, p...)
	return len(p), nil
}

type mode uint8

const (
	modeJSON    mode = iota // encoding/json
	modeCur                 // cur's AppendJSON, after copying the record into cur
	modeString              // T is a string printed as is
	modeDynamic             // decided for each record
)

// Encoder encodes records of type T as lines. For an AppendJSON method of T
// or *T, or a raw string, the record is copied into cur, whose address is
// already held as the right interface, so no conversion allocates.
type Encoder[T any] struct {
	mode       mode
	rawStrings bool
	cur        T
	app        Appender
	str        *string
	json       *json.Encoder
}

// Init prepares e to encode into buf; with rawStrings, string records are
// written as they are instead of as JSON strings. e must not be copied
// afterwards.
func (e *Encoder[T]) Init(buf *Buffer, rawStrings bool) {
	e.rawStrings = rawStrings
	e.json = json.NewEncoder(buf)
	e.json.SetEscapeHTML(false)
	switch p := any(&e.cur).(type) {
	case Appender:
		e.mode, e.app = modeCur, p
		return
	case *string:
		if rawStrings {
			e.mode, e.str = modeString, p
			return
		}
	}
	var zero T
	if _, ok := any(zero).(Appender); ok || reflect.TypeFor[T]().Kind() == reflect.Interface {
		e.mode = modeDynamic
	}
}

// Encode appends v and a newline to buf.
func (e *Encoder[T]) Encode(buf *Buffer, v T) error {
	switch e.mode {
	case modeCur:
		e.cur = v
		buf.B = append(e.app.AppendJSON(buf.B), '\n')
		return nil
	case modeString:
		e.cur = v
		buf.B = append(append(buf.B, *e.str...), '\n')
		return nil
	case modeDynamic:
		switch x := any(v).(type) {
		case Appender:
			buf.B = append(x.AppendJSON(buf.B), '\n')
			return nil
		case string:
			if e.rawStrings {
				buf.B = append(append(buf.B, x...), '\n')
				return nil
			}
		}
	}
	// json.Encoder writes nothing if encoding fails, and ends with "\n".
	if err := e.json.Encode(v); err != nil {
		return fmt.Errorf("encoding a %T record as JSON: %w", v, err)
	}
	return nil
}
