package weir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/engine"
	"github.com/weirstream/weir/internal/snapshot/format"
)

// WithSavepointDir sets the default directory of savepoints
// (state.savepoints.dir).
func WithSavepointDir(dir string) Option { return func(e *Environment) { e.cp.savepointDir = dir } }

// WithCheckpointDir sets the directory of checkpoints
// (state.checkpoints.dir); checkpoints of a job go to <dir>/<job id>/chk-<n>.
func WithCheckpointDir(dir string) Option { return func(e *Environment) { e.cp.checkpointDir = dir } }

// WithCheckpointInterval takes a checkpoint every d
// (execution.checkpointing.interval); 0 disables periodic checkpoints.
// It needs a checkpoint directory.
func WithCheckpointInterval(d time.Duration) Option {
	return func(e *Environment) {
		if d < 0 {
			e.errf("weir: negative checkpoint interval %v", d)
			return
		}
		e.cp.interval = d
	}
}

// WithRetainedCheckpoints keeps the newest n completed checkpoints
// (state.checkpoints.num-retained); default 1.
func WithRetainedCheckpoints(n int) Option {
	return func(e *Environment) {
		if n < 1 {
			e.errf("weir: retained checkpoints must be at least 1, got %d", n)
			return
		}
		e.cp.retain = n
	}
}

// WithCheckpointTimeout aborts snapshots not completed within d; default 10
// minutes.
func WithCheckpointTimeout(d time.Duration) Option {
	return func(e *Environment) {
		if d <= 0 {
			e.errf("weir: checkpoint timeout must be positive, got %v", d)
			return
		}
		e.cp.timeout = d
	}
}

// RestoreOption configures FromSavepoint.
type RestoreOption func(*restoreConfig)

type restoreConfig struct {
	path             string
	allowNonRestored bool
	claim            bool
	// uidMap maps a snapshot operator's UID or ID to the UID of the job's
	// operator that takes its state (WithUIDMap).
	uidMap map[string]string
	err    error // a bad restore option
}

// RestoreMode says who owns the snapshot a job starts from.
type RestoreMode string

const (
	// NoClaim (the default) leaves the snapshot to the user: weir never
	// modifies or deletes it. Every checkpoint weir takes is complete on its
	// own, so the first one after the restore shares nothing with it.
	NoClaim RestoreMode = "no-claim"
	// Claim hands the snapshot to weir, which treats it as its own oldest
	// checkpoint and deletes it once enough newer checkpoints are retained.
	Claim RestoreMode = "claim"
)

// WithRestoreMode sets the restore mode (--restore-mode); see RestoreMode.
func WithRestoreMode(m RestoreMode) RestoreOption {
	return func(c *restoreConfig) { c.claim = m == Claim }
}

// ParseRestoreMode parses "claim" or "no-claim".
func ParseRestoreMode(s string) (RestoreMode, error) {
	switch RestoreMode(s) {
	case Claim, NoClaim:
		return RestoreMode(s), nil
	}
	return "", fmt.Errorf("weir: restore mode %q: want claim or no-claim", s)
}

// WithRestartStrategy restarts a failed job from its latest completed
// checkpoint up to attempts times, waiting delay before each (Flink's
// fixed-delay strategy). The default, once checkpoints are configured, is 3
// attempts 1 s apart; 0 attempts disables recovery.
func WithRestartStrategy(attempts int, delay time.Duration) Option {
	return func(e *Environment) {
		if attempts < 0 || delay < 0 {
			e.errf("weir: restart strategy: negative attempts or delay")
			return
		}
		e.cp.restarts, e.cp.restartDelay, e.cp.restartSet = attempts, delay, true
	}
}

// AllowNonRestoredState lets a job start from a snapshot that holds state
// the job no longer has: the state of operators it no longer has, and
// states an operator it has no longer declares. That state is skipped,
// logged and listed by JobClient.Skipped (Flink's --allowNonRestoredState,
// which covers the first kind only).
func AllowNonRestoredState() RestoreOption {
	return func(c *restoreConfig) { c.allowNonRestored = true }
}

// WithUIDMap restores renamed operators (--uid-map old=new): the state of
// the snapshot's operator whose UID is old goes to the job's operator whose
// UID is new. An operator may also be named by its operator ID, 32 hex
// digits, as weir inspect lists it: the only way to name one that had no
// UID. Each old must name one operator of the snapshot and each new an
// operator of the job, no two olds may name the same new, and the operator
// new names must not have state of its own in the snapshot (unless that
// state is renamed too); otherwise the restore fails and says which.
// Operators the map does not name are matched by ID as always.
func WithUIDMap(m map[string]string) RestoreOption {
	return func(c *restoreConfig) {
		to := map[string]string{}
		for _, old := range slices.Sorted(maps.Keys(m)) {
			uid := m[old]
			switch {
			case old == "" || uid == "":
				c.err = fmt.Errorf("weir: UID map %q=%q: give old=new, neither empty", old, uid)
				return
			case to[uid] != "":
				c.err = fmt.Errorf("weir: UID map: %q and %q both map to %q; an operator can take the state of one only", to[uid], old, uid)
				return
			}
			to[uid] = old
		}
		c.uidMap = maps.Clone(m)
	}
}

// FromSavepoint starts the job from a savepoint or retained checkpoint: its
// directory or its _metadata file. State is matched to operators by ID;
// operators the snapshot has no state for start empty; the job may run at
// any parallelism. In the default restore mode (no-claim) the snapshot is only
// read, never modified; with Claim the job owns it and deletes it once newer
// checkpoints subsume it.
func FromSavepoint(path string, opts ...RestoreOption) Option {
	return func(e *Environment) {
		if path == "" {
			e.errf("weir: FromSavepoint: empty path; give a savepoint directory or its _metadata file")
			return
		}
		rc := &restoreConfig{path: path}
		for _, o := range opts {
			o(rc)
		}
		if rc.err != nil {
			e.errs = append(e.errs, rc.err)
			return
		}
		e.restore = rc
	}
}

type checkpointConfig struct {
	savepointDir  string
	checkpointDir string
	interval      time.Duration
	retain        int
	timeout       time.Duration
	restarts      int
	restartDelay  time.Duration
	restartSet    bool
}

// JobClient controls a running job: savepoints, stop, cancel.
type JobClient struct {
	id      [16]byte
	name    string
	env     *Environment
	job     *engine.Job
	coord   *checkpoint.Coordinator
	skipped []UnmatchedOperator
	dropped map[droppedState]bool // the states of skipped that dropUndeclared listed

	acks     chan engine.TaskSnapshot
	written  chan checkpoint.Written
	requests chan *snapshotRequest
	stopped  chan struct{} // closed when the driver exits
	result   error

	ctx context.Context

	// syncMax is the longest synchronous pause of the snapshot in flight.
	syncMax time.Duration

	mu        sync.Mutex
	last      SnapshotStats
	latest    string // newest completed checkpoint
	latestID  uint64
	nextRq    uint64
	cancelled bool
	restarts  int
}

type snapshotRequest struct {
	kind  engine.SnapshotKind
	dir   string
	stop  bool
	drain bool
	// ctx is the requester's: a request still queued when it is done is
	// dropped, never triggered.
	ctx   context.Context
	reply chan snapshotReply
}

type snapshotReply struct {
	path string
	err  error
}

// ErrNoSavepointDir is returned when a savepoint is triggered with neither a
// directory nor a configured state.savepoints.dir.
var ErrNoSavepointDir = errors.New("weir: no savepoint directory: give one, or configure state.savepoints.dir (WithSavepointDir)")

// newJobID returns a random job ID.
func newJobID() [16]byte {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return id
}

// ExecuteAsync starts the job and returns at once; the client's Wait waits
// for it to end.
func (e *Environment) ExecuteAsync(ctx context.Context, jobName string) (*JobClient, error) {
	if err := e.prepare(); err != nil {
		return nil, err
	}
	if e.cp.interval > 0 && e.cp.checkpointDir == "" {
		return nil, errors.New("weir: periodic checkpoints need a checkpoint directory: configure state.checkpoints.dir (WithCheckpointDir)")
	}
	c := &JobClient{
		id: newJobID(), name: jobName, env: e, ctx: ctx,
		acks:     make(chan engine.TaskSnapshot, 64),
		written:  make(chan checkpoint.Written, 1),
		requests: make(chan *snapshotRequest),
		stopped:  make(chan struct{}),
	}
	var restore engine.RestoreSource
	var lastID uint64
	var owned []string
	if e.restore != nil {
		fs, skipped, err := e.openRestore()
		if err != nil {
			return nil, err
		}
		restore, c.skipped, lastID = fs, skipped, fs.s.Metadata().SnapshotID
		if e.restore.claim {
			owned = []string{fs.s.Dir()}
		}
	}
	if err := c.start(restore, lastID, owned); err != nil {
		return nil, err
	}
	go c.drive()
	return c, nil
}

// start starts (or restarts) the job's tasks and a coordinator for them.
func (c *JobClient) start(restore engine.RestoreSource, lastID uint64, owned []string) error {
	e := c.env
	opts := engine.Options{
		Parallelism: e.parallelism, Clock: e.clock, Logger: e.logger,
		OnSnapshot: func(s engine.TaskSnapshot) { c.acks <- s },
		Restore:    restore,
	}
	if e.restore != nil && e.restore.allowNonRestored {
		opts.DropUndeclared = c.dropUndeclared
	}
	job, err := engine.Start(c.ctx, e.nodes, opts)
	if err != nil {
		return fmt.Errorf("weir: job %q: %w%s", c.name, err, damagedRemedy(err))
	}
	timeout := e.cp.timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	coord, err := checkpoint.New(checkpoint.Options{Tasks: job.Tasks(), Timeout: timeout.Milliseconds(), Retain: e.cp.retain, Owned: owned}, lastID)
	if err != nil {
		job.Cancel()
		_ = job.Wait()
		return err
	}
	c.mu.Lock()
	c.job, c.coord = job, coord
	c.mu.Unlock()
	return nil
}

// SnapshotStats describes a completed snapshot.
type SnapshotStats struct {
	ID   uint64
	Path string
	// MaxSyncPause is the longest time a task paused processing to capture
	// its state (the synchronous phase).
	MaxSyncPause time.Duration
}

// LastSnapshot returns the most recently completed snapshot's figures.
func (c *JobClient) LastSnapshot() SnapshotStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Restarts returns how many times the job was recovered from a checkpoint.
func (c *JobClient) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// recoverable reports whether a failed run should restart from its latest
// checkpoint, and from which.
func (c *JobClient) recoverable(err error) (string, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	attempts := c.env.cp.restarts
	if !c.env.cp.restartSet {
		attempts = 3
	}
	if err == nil || c.cancelled || c.ctx.Err() != nil || c.latest == "" || c.restarts >= attempts {
		return "", 0, false
	}
	return c.latest, c.latestID, true
}

// openRestore opens the snapshot to restore and matches its operators to
// the job's.
func (e *Environment) openRestore() (*fileSnapshot, []UnmatchedOperator, error) {
	fs, err := e.openSnapshot(e.restore.path)
	if err != nil {
		return nil, nil, fmt.Errorf("weir: cannot restore: %w%s", err, damagedRemedy(err))
	}
	if err := fs.remap(e.restore.uidMap, e.nodes); err != nil {
		return nil, nil, fmt.Errorf("weir: cannot restore from %s: %w", fs.s.Dir(), err)
	}
	un := fs.unmatched(e.nodes)
	if len(un) == 0 {
		return fs, nil, nil
	}
	if !e.restore.allowNonRestored {
		ops := make([]string, len(un))
		for i, u := range un {
			ops[i] = u.String()
		}
		// One line, as every error of a command: the weir command shows a
		// job's last line of output when it fails to start.
		return nil, nil, fmt.Errorf("weir: cannot restore from %s: the job has no operator for %d of the savepoint's operators: %s; give the operators their old UIDs (or pin their IDs with UIDHash), map old UIDs (or IDs) to new ones with --uid-map OLD=NEW, or start with --allow-non-restored-state (-n) to drop that state",
			fs.s.Dir(), len(un), strings.Join(ops, "; "))
	}
	fs.restrict(un)
	for _, u := range un {
		e.logger.Warn("weir: skipping state of an operator the job no longer has", "operator", u.String())
	}
	return fs, un, nil
}

// ID returns the job's ID as 32 lowercase hex digits.
func (c *JobClient) ID() string { return hex.EncodeToString(c.id[:]) }

// Skipped returns the operators whose state the restore skipped
// (AllowNonRestoredState), with the states skipped: every state of an
// operator the job no longer has, and the states an operator of the job no
// longer declares. States are listed by name; a keyed state and an operator
// list state of the same name are listed once each.
func (c *JobClient) Skipped() []UnmatchedOperator {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.skipped)
	for i := range out {
		out[i].States = slices.Clone(out[i].States)
	}
	return out
}

// dropUndeclared records and logs, once, that the restore skips state of
// operator n that n no longer declares (engine.Options.DropUndeclared). The
// engine calls it from the subtasks' restores, concurrently. A keyed state
// and an operator list of the same name are two states: the name is then
// listed twice.
func (c *JobClient) dropUndeclared(n *engine.Node, kind, state string) {
	id := n.ID.String()
	c.mu.Lock()
	i := slices.IndexFunc(c.skipped, func(u UnmatchedOperator) bool { return u.ID == id })
	if i < 0 {
		c.skipped = append(c.skipped, UnmatchedOperator{ID: id, UID: n.UID, Name: n.Name, InJob: true})
		i = len(c.skipped) - 1
	}
	if c.dropped == nil {
		c.dropped = map[droppedState]bool{}
	}
	d := droppedState{id, kind, state}
	seen := c.dropped[d]
	if !seen {
		c.dropped[d] = true
		c.skipped[i].States = append(c.skipped[i].States, state)
	}
	c.mu.Unlock()
	if !seen {
		c.env.logger.Warn("weir: skipping state the operator no longer declares", "operator", n.Name, "uid", n.UID, "id", id, "kind", kind, "state", state)
	}
}

// droppedState is a state dropped from an operator the job has, by the
// operator's ID, the state's kind and its name.
type droppedState struct{ op, kind, state string }

// LatestCheckpoint returns the newest completed checkpoint's directory, or
// "".
func (c *JobClient) LatestCheckpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}

// TriggerSavepoint takes a savepoint into dir (or the configured
// state.savepoints.dir) while the job keeps running, and returns its path.
func (c *JobClient) TriggerSavepoint(ctx context.Context, dir string) (string, error) {
	return c.snapshot(ctx, &snapshotRequest{kind: engine.Savepoint, dir: dir})
}

// StopWithSavepoint takes a savepoint and stops the job at it: sources stop
// at the barrier and nothing is processed after it. With drain, sources
// first emit the final watermark, so every window and timer fires.
func (c *JobClient) StopWithSavepoint(ctx context.Context, dir string, drain bool) (string, error) {
	path, err := c.snapshot(ctx, &snapshotRequest{kind: engine.Savepoint, dir: dir, stop: true, drain: drain})
	if err != nil {
		return "", err
	}
	if err := c.Wait(); err != nil {
		return path, err
	}
	return path, nil
}

// TriggerCheckpoint takes a checkpoint now and returns its path.
func (c *JobClient) TriggerCheckpoint(ctx context.Context) (string, error) {
	return c.snapshot(ctx, &snapshotRequest{kind: engine.Checkpoint})
}

func (c *JobClient) snapshot(ctx context.Context, r *snapshotRequest) (string, error) {
	if r.kind == engine.Savepoint && r.dir == "" {
		r.dir = c.env.cp.savepointDir
		if r.dir == "" {
			return "", ErrNoSavepointDir
		}
	}
	if r.kind == engine.Savepoint {
		if err := writableDir(r.dir); err != nil {
			return "", fmt.Errorf("weir: cannot write a savepoint into %s: %w; give a directory that can be created and written", r.dir, err)
		}
	}
	if r.kind == engine.Checkpoint && c.env.cp.checkpointDir == "" {
		return "", errors.New("weir: no checkpoint directory: configure state.checkpoints.dir (WithCheckpointDir)")
	}
	r.ctx = ctx
	r.reply = make(chan snapshotReply, 1)
	select {
	case c.requests <- r:
	case <-c.stopped:
		return "", errors.New("weir: the job is not running")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep.path, rep.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// damagedRemedy is what to do about a restore that failed on a damaged
// snapshot ("" for other errors).
func damagedRemedy(err error) string {
	if !errors.Is(err, format.ErrCorrupt) {
		return ""
	}
	return "; the snapshot is damaged: restore from another savepoint or retained checkpoint (weir inspect --verify PATH checks one)"
}

// writableDir creates dir if need be and checks that a file can be created
// in it, so that a savepoint into a wrong place fails before any barrier:
// a stop --drain whose savepoint fails cannot let the job go on.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".weir-write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	return errors.Join(f.Close(), os.Remove(name))
}

// Cancel stops the job without a savepoint.
func (c *JobClient) Cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = true
	c.job.Cancel()
}

// CancelWithSavepoint takes a savepoint, then cancels the job (Flink's
// deprecated "cancel with savepoint": unlike stop, the job is not stopped
// at the barrier but cancelled right after the savepoint completes).
func (c *JobClient) CancelWithSavepoint(ctx context.Context, dir string) (string, error) {
	path, err := c.TriggerSavepoint(ctx, dir)
	if err != nil {
		return "", err
	}
	c.Cancel()
	_ = c.Wait()
	return path, nil
}

// Wait waits for the job to end and returns its error, if any.
func (c *JobClient) Wait() error {
	<-c.stopped
	return c.result
}

// drive runs the coordinator: the only goroutine that steps it.
func (c *JobClient) drive() {
	defer close(c.stopped)
	jobDone := make(chan error, 1)
	waitFor := func(j *engine.Job) { go func() { jobDone <- j.Wait() }() }
	waitFor(c.job)

	var periodic <-chan time.Time
	if c.env.cp.interval > 0 {
		t := time.NewTicker(c.env.cp.interval)
		defer t.Stop()
		periodic = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	pending := map[uint64]*snapshotRequest{}
	now := func() int64 { return c.env.clock.Now().UnixMilli() }
	// stopID is the stop barrier in flight, if any; stopDrain is set if it
	// drained (the final watermark is out: the job cannot read on).
	var stopID uint64
	var stopDrain bool
	// endStop ends the stop with savepoint in flight: the job ends if its
	// savepoint completed; if not, the sources read on, unless the stop
	// drained, and the job fails.
	endStop := func(id uint64, completed bool, reason error) {
		if id != stopID || stopID == 0 {
			return
		}
		stopID = 0
		if completed || !stopDrain {
			c.job.ResolveStop(id, completed)
			if !completed {
				c.env.logger.Warn("weir: the job goes on: its stop with savepoint failed", "id", id, "reason", reason)
			}
			return
		}
		c.job.Fail(fmt.Errorf("weir: stop --drain failed after the final watermark, so the job cannot go on: %w", reason))
	}
	var disposals sync.WaitGroup
	defer disposals.Wait() // old checkpoints are gone when Wait returns
	writes := 0            // Write actions whose outcome has not arrived
	// written handles a write's outcome: a snapshot the coordinator does
	// not complete (it was aborted meanwhile) must not stay on disk looking
	// complete.
	var written func(w checkpoint.Written)
	var apply func([]checkpoint.Action)
	apply = func(acts []checkpoint.Action) {
		for _, a := range acts {
			switch a := a.(type) {
			case checkpoint.Inject:
				if err := c.job.Trigger(a.Barrier); err != nil {
					// Refused before any source saw it: nothing to resolve.
					apply(c.coord.Step(checkpoint.Decline{ID: a.Barrier.ID, Reason: err}))
				} else if a.Barrier.Stop {
					stopID, stopDrain = a.Barrier.ID, a.Barrier.Drain
				}
			case checkpoint.Write:
				writes++
				c.syncMax = 0
				for _, t := range a.Tasks {
					c.syncMax = max(c.syncMax, t.SyncDuration)
				}
				go c.write(a)
			case checkpoint.Completed:
				c.mu.Lock()
				if a.Kind == engine.Checkpoint {
					c.latest, c.latestID = a.Path, a.ID
				}
				c.last = SnapshotStats{ID: a.ID, Path: a.Path, MaxSyncPause: c.syncMax}
				c.mu.Unlock()
				level := slog.LevelInfo
				if a.Kind == engine.Checkpoint {
					level = slog.LevelDebug // periodic: would flood the log
				}
				c.env.logger.Log(c.ctx, level, "weir: "+a.Kind.String()+" completed", "id", a.ID, "path", a.Path)
				if r := pending[a.Request]; r != nil {
					r.reply <- snapshotReply{path: a.Path}
					delete(pending, a.Request)
				}
				endStop(a.ID, true, nil)
			case checkpoint.Aborted:
				c.env.logger.Warn("weir: "+a.Kind.String()+" aborted", "id", a.ID, "reason", a.Reason)
				if r := pending[a.Request]; r != nil {
					after := ""
					switch {
					case r.stop && r.drain && a.ID == stopID:
						after = "; the job fails: its final watermark is out"
					case r.stop && a.ID == stopID:
						after = "; the job goes on"
					}
					r.reply <- snapshotReply{err: fmt.Errorf("weir: %s failed: %w%s", a.Kind, a.Reason, after)}
					delete(pending, a.Request)
				}
				endStop(a.ID, false, a.Reason)
			case checkpoint.Dispose:
				disposals.Add(1)
				go func() {
					defer disposals.Done()
					if err := os.RemoveAll(a.Path); err != nil {
						c.env.logger.Warn("weir: cannot delete old checkpoint", "path", a.Path, "err", err)
					}
				}()
			}
		}
	}
	written = func(w checkpoint.Written) {
		writes--
		acts := c.coord.Step(w)
		completed := false
		for _, a := range acts {
			if done, ok := a.(checkpoint.Completed); ok && done.ID == w.ID {
				completed = true
			}
		}
		apply(acts)
		if !completed && w.Err == nil && w.Path != "" {
			if err := os.RemoveAll(w.Path); err != nil {
				c.env.logger.Warn("weir: cannot delete an aborted snapshot", "path", w.Path, "err", err)
			}
		}
	}
	defer func() {
		for writes > 0 {
			written(<-c.written)
		}
	}()
	// queued are the requests (keys of pending) not triggered yet, in the
	// order they came: a request made while another snapshot is in flight
	// waits for it to end, as Flink queues a savepoint behind a running
	// checkpoint, instead of being refused.
	var queued []uint64
	startQueued := func() {
		for len(queued) > 0 {
			if _, busy := c.coord.InFlight(); busy {
				return
			}
			id := queued[0]
			queued = queued[1:]
			r := pending[id]
			if err := r.ctx.Err(); err != nil {
				// The requester gave up while it waited: a stop it no
				// longer waits for must not happen.
				r.reply <- snapshotReply{err: err}
				delete(pending, id)
				continue
			}
			apply(c.coord.Step(checkpoint.Trigger{Now: now(), Kind: r.kind, Dir: r.dir, Stop: r.stop, Drain: r.drain, Request: id}))
		}
	}
	for {
		startQueued()
		select {
		case s := <-c.acks:
			apply(c.coord.Step(checkpoint.Ack{Snapshot: s}))
		case w := <-c.written:
			written(w)
		case r := <-c.requests:
			c.nextRq++
			pending[c.nextRq] = r
			queued = append(queued, c.nextRq)
		case <-periodic:
			if _, busy := c.coord.InFlight(); !busy && len(queued) == 0 {
				apply(c.coord.Step(checkpoint.Trigger{Now: now(), Kind: engine.Checkpoint}))
			}
		case <-tick.C:
			apply(c.coord.Step(checkpoint.Tick{Now: now()}))
		case err := <-jobDone:
			// A snapshot in flight can no longer complete: tasks that
			// ended never saw its barrier, or failed. (A stop's sources
			// hold until its snapshot completes: endStop.)
			if id, ok := c.coord.InFlight(); ok {
				apply(c.coord.Step(checkpoint.Decline{ID: id, Reason: errors.New("the job ended")}))
			}
			for id, r := range pending {
				r.reply <- snapshotReply{err: errors.New("weir: the job ended before the snapshot completed")}
				delete(pending, id)
			}
			queued = queued[:0]
			if path, id, ok := c.recoverable(err); ok {
				if rerr := c.recover(path, id, err); rerr == nil {
					waitFor(c.job)
					continue
				} else {
					err = errors.Join(err, rerr)
				}
			}
			if err != nil {
				c.mu.Lock()
				cancelled := c.cancelled
				c.mu.Unlock()
				if cancelled && errors.Is(err, context.Canceled) {
					err = fmt.Errorf("weir: job %q was cancelled: %w", c.name, err)
				} else {
					err = fmt.Errorf("weir: job %q failed: %w", c.name, err)
				}
			}
			c.result = err
			return
		}
	}
}

// recover restarts the failed job from the checkpoint at path.
func (c *JobClient) recover(path string, id uint64, cause error) error {
	c.mu.Lock()
	c.restarts++
	n := c.restarts
	c.mu.Unlock()
	delay := c.env.cp.restartDelay
	if !c.env.cp.restartSet {
		delay = time.Second
	}
	c.env.logger.Warn("weir: job failed; restarting from its latest checkpoint", "job", c.name, "attempt", n, "checkpoint", path, "cause", cause)
	select {
	case <-time.After(delay):
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	fs, err := c.env.openSnapshot(path)
	if err != nil {
		return fmt.Errorf("recovering from %s: %w", path, err)
	}
	// The checkpoints of the failed run stay owned: they are disposed of as
	// the recovered run's checkpoints subsume them.
	return c.start(fs, id, c.coord.Retained())
}

// write writes a snapshot and reports the outcome to the driver.
func (c *JobClient) write(a checkpoint.Write) {
	info := snapshotInfo{jobID: c.id, jobName: c.name, id: a.ID, kind: a.Kind, ts: c.env.clock.Now().UnixMilli()}
	var path string
	var err error
	if a.Kind == engine.Checkpoint {
		dir := filepath.Join(c.env.cp.checkpointDir, c.ID(), fmt.Sprintf("chk-%d", a.ID))
		var w *format.Writer
		if w, err = format.CreateIn(dir, nil); err == nil {
			if path, err = fillSnapshot(w, info, a.Tasks); err != nil {
				_ = w.Abort()
			}
		}
	} else {
		path, err = writeSnapshot(a.Dir, info, a.Tasks)
	}
	for _, t := range a.Tasks {
		t.Release()
	}
	c.written <- checkpoint.Written{ID: a.ID, Path: path, Err: err}
}
