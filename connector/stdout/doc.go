// Package stdout holds a sink that prints a job's records, one line each, to
// standard output or to another io.Writer: the counterpart of Flink's print()
// for looking at results while developing a job.
//
//	weir.To(counts, stdout.Sink[Count]())
//
// With [WithPrefix], lines of a sink running in several subtasks start with
// the 1-based subtask number, as in Flink ("2> ...").
package stdout
