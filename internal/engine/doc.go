// Package engine is weir's embedded runtime: it turns a job graph into
// parallel subtasks, chains compatible neighbours into one task, connects
// tasks with bounded batched channels, propagates watermarks and end of
// input, and fails the whole job with the first error any subtask meets.
//
// # Threading
//
// Every task (one chain of operators at one subtask index) runs on exactly
// one goroutine, which owns all of its operators and their state. Records
// cross tasks in batches over bounded Go channels, one channel per
// (producer subtask, consumer subtask) pair, so a slow consumer blocks its
// producers instead of growing a queue. A consumer polls its channels without
// blocking and, when none has data, flushes its own partial output batches
// and sleeps on a one-slot notification channel that producers signal after
// each send; a signal is never lost because the slot is sticky.
//
// Per-channel queues (rather than one shared inbox) are deliberate: checkpoint
// barrier alignment must be able to stop reading one channel while reading
// the others.
//
// # Records, watermarks, end of input
//
// Inside a chain, operators call each other directly through Output[T].
// Watermarks travel in-band, after the records that precede them; a task's
// watermark is the minimum over its active (non-idle, unfinished) and aligned
// input channels, as in Flink's StatusWatermarkValve: a channel back from
// idleness rejoins the minimum once its watermark reaches the task's, and
// when the last active channel goes idle the task advances to the maximum
// watermark of its channels before going idle itself. A source that ends
// sends the final watermark (MaxWatermark) and then End; a task whose
// channels have all ended finishes its operators in chain order, sends End
// downstream and exits.
//
// A task that panics fails with a *PanicError; the errors of its operators'
// Close are joined with the task's error.
package engine
