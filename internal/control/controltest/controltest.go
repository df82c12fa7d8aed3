// Package controltest holds a fake job for tests of the control plane and
// of the weir command: it implements control.Job without running anything.
package controltest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
)

// Job is a fake control.Job. Savepoints are not written: a savepoint
// "into" dir is reported as dir/savepoint-fake-<n>. Its methods may be
// called from any goroutine.
type Job struct {
	id string

	// SavepointDir is the configured savepoint directory ("" = none: a
	// savepoint without a directory fails, as a real job's does).
	SavepointDir string
	// Fail, if set, is returned by every snapshot request.
	Fail error

	mu struct {
		sync.Mutex
		n        int
		latest   string
		requests []string // what was asked, for assertions
		result   error
		ended    bool
	}
	done chan struct{}
}

// NewJob returns a running fake job with the given ID.
func NewJob(id string) *Job { return &Job{id: id, done: make(chan struct{})} }

// ID implements control.Job.
func (j *Job) ID() string { return j.id }

// Requests returns the requests made so far, such as
// "savepoint /tmp/x" or "stop /tmp/x drain=true".
func (j *Job) Requests() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.mu.requests...)
}

// End ends the job with err, as if it had finished (nil) or failed.
func (j *Job) End(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.endLocked(err)
}

func (j *Job) endLocked(err error) {
	if j.mu.ended {
		return
	}
	j.mu.ended, j.mu.result = true, err
	close(j.done)
}

func (j *Job) snapshotLocked(what, dir string) (string, error) {
	j.mu.requests = append(j.mu.requests, what)
	if j.mu.ended {
		return "", errors.New("weir: the job is not running")
	}
	if j.Fail != nil {
		return "", j.Fail
	}
	if dir == "" {
		dir = j.SavepointDir
	}
	if dir == "" {
		return "", errors.New("weir: no savepoint directory: give one, or configure state.savepoints.dir (WithSavepointDir)")
	}
	j.mu.n++
	return filepath.Join(dir, fmt.Sprintf("savepoint-fake-%d", j.mu.n)), nil
}

// TriggerSavepoint implements control.Job.
func (j *Job) TriggerSavepoint(_ context.Context, dir string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.snapshotLocked("savepoint "+dir, dir)
}

// StopWithSavepoint implements control.Job: the job finishes.
func (j *Job) StopWithSavepoint(_ context.Context, dir string, drain bool) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p, err := j.snapshotLocked(fmt.Sprintf("stop %s drain=%v", dir, drain), dir)
	if err == nil {
		j.endLocked(nil)
	}
	return p, err
}

// CancelWithSavepoint implements control.Job: the job is cancelled.
func (j *Job) CancelWithSavepoint(_ context.Context, dir string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p, err := j.snapshotLocked("cancel-with-savepoint "+dir, dir)
	if err == nil {
		j.endLocked(context.Canceled)
	}
	return p, err
}

// TriggerCheckpoint implements control.Job.
func (j *Job) TriggerCheckpoint(context.Context) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.mu.requests = append(j.mu.requests, "checkpoint")
	if j.mu.ended {
		return "", errors.New("weir: the job is not running")
	}
	j.mu.n++
	j.mu.latest = fmt.Sprintf("/checkpoints/%s/chk-%d", j.id, j.mu.n)
	return j.mu.latest, nil
}

// LatestCheckpoint implements control.Job.
func (j *Job) LatestCheckpoint() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.latest
}

// Cancel implements control.Job.
func (j *Job) Cancel() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.mu.requests = append(j.mu.requests, "cancel")
	j.endLocked(fmt.Errorf("weir: job %q failed: %w", "fake", context.Canceled))
}

// Wait implements control.Job.
func (j *Job) Wait() error {
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.result
}
