// Package state declares keyed state: descriptors that name a state and its
// types, and the handles a keyed function uses to read and write it.
//
// Keyed state is scoped to the key of the record (or timer) being processed:
// the runtime sets the current key before it calls the function, and every
// handle reads and writes that key's entry. A function obtains handles once,
// in its Open method, from the Store it is given:
//
//	func (f *counter) Open(ctx *weir.KeyedContext[string]) error {
//		var err error
//		f.count, err = state.GetValue(ctx, state.ValueDescriptor[int64]{Name: "count"})
//		return err
//	}
//
// State names are unique per operator; they are how a savepoint finds the
// state again after the job's code has changed.
package state
