package control

import (
	"context"
	"errors"
	"regexp"
	"time"
)

// Job is what the server needs of a running job. *weir.JobClient
// implements it. Methods may be called from any goroutine; the snapshot
// methods block until the snapshot is complete (or ctx is done) and
// StopWithSavepoint and CancelWithSavepoint also until the job has ended.
type Job interface {
	// ID returns the job's ID, 32 lowercase hex digits.
	ID() string
	// TriggerSavepoint takes a savepoint into dir ("" = the job's
	// configured directory) and returns its path.
	TriggerSavepoint(ctx context.Context, dir string) (string, error)
	// StopWithSavepoint takes a savepoint, stops the job at it and returns
	// the savepoint's path.
	StopWithSavepoint(ctx context.Context, dir string, drain bool) (string, error)
	// CancelWithSavepoint takes a savepoint, then cancels the job.
	CancelWithSavepoint(ctx context.Context, dir string) (string, error)
	// TriggerCheckpoint takes a checkpoint and returns its path.
	TriggerCheckpoint(ctx context.Context) (string, error)
	// LatestCheckpoint returns the newest completed checkpoint, or "".
	LatestCheckpoint() string
	// Cancel stops the job without a savepoint and returns at once.
	Cancel()
	// Wait waits for the job to end and returns its error.
	Wait() error
}

// State is a job's state as the API reports it (Flink's names).
type State string

// Job states.
const (
	Running    State = "RUNNING"
	Cancelling State = "CANCELLING"
	Finished   State = "FINISHED" // ended normally, or stopped with a savepoint
	Canceled   State = "CANCELED"
	Failed     State = "FAILED"
)

// JobInfo describes a job when it is added to a server.
type JobInfo struct {
	// Name is the job's name.
	Name string
	// Started is when the job started.
	Started time.Time
	// Parallelism is the job's default parallelism.
	Parallelism int
	// RestoredFrom is the snapshot the job started from, or "".
	RestoredFrom string
	// RestoreMode is "no-claim" or "claim" when RestoredFrom is set.
	RestoreMode string
}

// JobSummary is one job of GET /jobs.
type JobSummary struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State State  `json:"state"`
}

// JobDetails is the answer of GET /jobs/{id}.
type JobDetails struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	State            State  `json:"state"`
	StartTime        int64  `json:"start-time"`         // epoch milliseconds
	EndTime          int64  `json:"end-time,omitempty"` // epoch milliseconds, once ended
	PID              int    `json:"pid"`
	Parallelism      int    `json:"parallelism,omitempty"`
	RestoredFrom     string `json:"restored-from,omitempty"`
	RestoreMode      string `json:"restore-mode,omitempty"`
	LatestCheckpoint string `json:"latest-checkpoint,omitempty"`
	Failure          string `json:"failure,omitempty"`
}

// SavepointRequest is the body of POST /jobs/{id}/savepoints.
type SavepointRequest struct {
	TargetDirectory string `json:"target-directory,omitempty"`
	CancelJob       bool   `json:"cancel-job,omitempty"`
}

// StopRequest is the body of POST /jobs/{id}/stop.
type StopRequest struct {
	TargetDirectory string `json:"targetDirectory,omitempty"`
	Drain           bool   `json:"drain,omitempty"`
}

// SnapshotResponse answers a savepoint, stop or checkpoint request.
type SnapshotResponse struct {
	// Location is the snapshot's directory.
	Location string `json:"location"`
}

// CheckpointStats is the answer of GET /jobs/{id}/checkpoints.
type CheckpointStats struct {
	Latest struct {
		Completed *CompletedCheckpoint `json:"completed"`
	} `json:"latest"`
}

// CompletedCheckpoint is a completed checkpoint.
type CompletedCheckpoint struct {
	ExternalPath string `json:"external_path"`
}

// errorBody is the body of every error response.
type errorBody struct {
	Errors []string `json:"errors"`
}

// Sentinel errors.
var (
	// ErrUnknownJob: no job with that ID is registered or served.
	ErrUnknownJob = errors.New("control: unknown job")
	// ErrBadJobID: the string is not a job ID (32 lowercase hex digits).
	ErrBadJobID = errors.New("control: not a job ID (want 32 lowercase hex digits)")
)

var jobIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidJobID reports whether id is 32 lowercase hex digits.
func ValidJobID(id string) bool { return jobIDPattern.MatchString(id) }
