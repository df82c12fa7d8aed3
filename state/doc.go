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
// state again after the job's code has changed. Every state must be
// registered by the end of Open: a restore checks the savepoint's states
// against the ones declared then, so one registered later (on a first
// record, say) is refused with an error. (Flink allows late registration,
// so it cannot tell a state a new version dropped from one it registers
// later, and keeps both.) A savepoint state the new version no longer
// declares fails the restore, unless the job starts with
// --allow-non-restored-state, which drops it.
//
// State lives on the heap as the values it was given, not copies of them,
// as in Flink's heap state backend. A value that refers to memory (a slice,
// map or pointer, or a struct holding one) becomes the state's when it is
// written: do not change or reuse that memory afterwards, for example by
// passing the same []byte buffer to Update for every record. A value read
// from state may be changed in place, and written back with Update, during
// the call that read it: the read lets an asynchronous snapshot take the old
// value first. Changing it in a later call, without reading it again, could
// show the change in a snapshot taken in between. Values of other types
// (numbers, strings, structs of them) are copied and need no care.
package state
