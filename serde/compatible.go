package serde

import (
	"fmt"
	"strings"
)

// IncompatibleError says why data written with one schema cannot be read as
// is with another. Callers add which operator and state it is about.
type IncompatibleError struct {
	// Old is the schema the data was written with, New the schema of the
	// serializer that would read it.
	Old, New Schema
	// Path is where in the schemas they differ, from the root: ".Field" for
	// a struct field, "[]" for a slice or array element, "{key}" and
	// "{value}" for a map's key and value; pointers add nothing. It is
	// empty when the roots differ.
	Path string
	// Reason says how they differ there, e.g. "string became int64",
	// "field Amount added".
	Reason string
}

// Error returns e.g. "schema mismatch at .OrderID: string became int64
// (old: struct orders.Order{OrderID string}, new: struct orders.Order{OrderID int64})".
func (e *IncompatibleError) Error() string {
	at := ""
	if e.Path != "" {
		at = " at " + e.Path
	}
	return fmt.Sprintf("schema mismatch%s: %s (old: %v, new: %v)", at, e.Reason, e.Old, e.New)
}

// Compatible reports whether data written by a serializer with schema old
// can be read as is by a serializer with schema new. It returns nil when the
// two describe the same encoding, whatever the Go type names in them, and an
// *IncompatibleError naming the first difference otherwise. If either schema
// is invalid it returns an error wrapping ErrInvalidSchema.
//
// Kinds must match, except that string and []byte, whose encodings are the
// same, are compatible. Arrays must keep their length, custom schemas their
// name and version. Struct fields are encoded by position without names,
// so a struct that gains, loses or reorders fields is incompatible as is:
// reading it takes a migration, which the field names recorded in the
// schema will allow a later release to plan. Recursive types compare by
// structure.
func Compatible(old, new Schema) error {
	if err := old.Validate(); err != nil {
		return fmt.Errorf("old schema: %w", err)
	}
	if err := new.Validate(); err != nil {
		return fmt.Errorf("new schema: %w", err)
	}
	// The walk knows parts by address, so each must have one place in its
	// tree: a caller may have used one *Schema twice.
	o, n := clone(old), clone(new)
	c := comparer{seen: map[[2]*Schema]bool{}}
	if m := c.compare(&o, nil, &n, nil, ""); m != nil {
		return &IncompatibleError{Old: old, New: new, Path: m.path, Reason: m.reason}
	}
	return nil
}

type mismatch struct{ path, reason string }

// comparer walks two valid schemas side by side. seen holds the pairs of
// parts already compared or being compared: meeting one again, through a
// recursive reference, adds nothing, so the walk ends and two recursive
// schemas compare equal when no path through them finds a difference.
type comparer struct {
	seen map[[2]*Schema]bool
}

// compare compares o, enclosed by os, with n, enclosed by ns; both are at
// path.
func (c *comparer) compare(o *Schema, os []*Schema, n *Schema, ns []*Schema, path string) *mismatch {
	if o.Kind == KindRef {
		i := len(os) - o.Up
		o, os = os[i], os[:i:i] // the cap makes appends below copy
	}
	if n.Kind == KindRef {
		i := len(ns) - n.Up
		n, ns = ns[i], ns[:i:i]
	}
	pair := [2]*Schema{o, n}
	if c.seen[pair] {
		return nil
	}
	c.seen[pair] = true
	if o.Kind != n.Kind {
		if sameEncoding(o.Kind, n.Kind) {
			return nil
		}
		return &mismatch{path, brief(o, os) + " became " + brief(n, ns)}
	}
	switch o.Kind {
	case KindArray:
		if o.Len != n.Len {
			return &mismatch{path, brief(o, os) + " became " + brief(n, ns)}
		}
	case KindCustom:
		if o.Name != n.Name || o.Version != n.Version {
			return &mismatch{path, brief(o, os) + " became " + brief(n, ns)}
		}
	case KindStruct:
		if reason := fieldsDiff(o.Fields, n.Fields); reason != "" {
			return &mismatch{path, reason}
		}
	}
	os, ns = append(os, o), append(ns, n)
	switch o.Kind {
	case KindSlice, KindArray, KindPointer:
		return c.compare(o.Elem, os, n.Elem, ns, path+elemPath(o.Kind))
	case KindMap:
		if m := c.compare(o.Key, os, n.Key, ns, path+mapKeyPath); m != nil {
			return m
		}
		return c.compare(o.Elem, os, n.Elem, ns, path+mapValuePath)
	case KindStruct:
		for i := range o.Fields {
			f := &o.Fields[i]
			if m := c.compare(&f.Schema, os, &n.Fields[i].Schema, ns, path+"."+f.Name); m != nil {
				return m
			}
		}
	}
	return nil
}

// sameEncoding reports whether two different kinds encode alike.
func sameEncoding(a, b Kind) bool {
	return (a == KindString || a == KindBytes) && (b == KindString || b == KindBytes)
}

// fieldsDiff says how the field names of two structs differ: which were
// removed, which added, or how they were reordered. It returns "" if they
// are the same names in the same order.
func fieldsDiff(old, new []Field) string {
	if len(old) == len(new) {
		same := true
		for i := range old {
			same = same && old[i].Name == new[i].Name
		}
		if same {
			return ""
		}
	}
	missing := func(a, b []Field) []string {
		in := make(map[string]bool, len(b))
		for _, f := range b {
			in[f.Name] = true
		}
		var out []string
		for _, f := range a {
			if !in[f.Name] {
				out = append(out, f.Name)
			}
		}
		return out
	}
	var parts []string
	if removed := missing(old, new); len(removed) > 0 {
		parts = append(parts, fieldList(removed)+" removed")
	}
	if added := missing(new, old); len(added) > 0 {
		parts = append(parts, fieldList(added)+" added")
	}
	if len(parts) > 0 {
		return strings.Join(parts, ", ")
	}
	names := func(fs []Field) string {
		s := make([]string, len(fs))
		for i, f := range fs {
			s[i] = f.Name
		}
		return strings.Join(s, ", ")
	}
	return "fields reordered (" + names(old) + " became " + names(new) + "); fields are encoded by position"
}

func fieldList(names []string) string {
	if len(names) == 1 {
		return "field " + names[0]
	}
	return "fields " + strings.Join(names, ", ")
}

// clone returns a deep copy of s, which shares no part with s or itself.
func clone(s Schema) Schema {
	if s.Key != nil {
		k := clone(*s.Key)
		s.Key = &k
	}
	if s.Elem != nil {
		e := clone(*s.Elem)
		s.Elem = &e
	}
	if s.Fields != nil {
		fs := make([]Field, len(s.Fields))
		for i, f := range s.Fields {
			fs[i] = Field{Name: f.Name, Schema: clone(f.Schema)}
		}
		s.Fields = fs
	}
	return s
}
