package weir_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/state"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNonRestoredStateIsLogged: restoring with AllowNonRestoredState logs a
// warning for each skipped operator that names its ID, UID, name and
// states, as the operator reading the job's log needs to see what was left
// behind.
func TestNonRestoredStateIsLogged(t *testing.T) {
	path := listSavepoint(t, 1, 1, state.Union)

	// Version 2 drops the keeper operator.
	var log syncBuffer
	env := weir.NewEnvironment(weir.WithLogger(slog.New(slog.NewTextHandler(&log, nil))),
		weir.FromSavepoint(path, weir.AllowNonRestoredState()))
	in := weir.FromSource(env, newPushSource[int64](1), weir.NoWatermarks[int64]()).UID("numbers")
	weir.To(in, newLiveSink[int64]()).UID("sink")
	job, err := env.ExecuteAsync(context.Background(), "v2")
	if err != nil {
		t.Fatal(err)
	}
	skipped := job.Skipped()
	job.Cancel()
	_ = job.Wait()
	// Version 2 has neither the keeper nor the second source.
	if len(skipped) != 2 || skipped[0].UID != "words" || skipped[1].UID != "keeper" {
		t.Fatalf("Skipped() = %+v, want the words source and the keeper operator", skipped)
	}
	var lines []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "skipping state") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(skipped) {
		t.Fatalf("%d skip warnings for %d skipped operators; log:\n%s", len(lines), len(skipped), log.String())
	}
	for i, u := range skipped {
		for _, want := range append([]string{"level=WARN", u.ID, "uid " + u.UID, u.Name}, u.States...) {
			if !strings.Contains(lines[i], want) {
				t.Errorf("the skip warning %q does not mention %q", lines[i], want)
			}
		}
	}
}

// blockingMap holds every record until release is closed, so that no
// barrier can pass it meanwhile; entered receives each record it holds.
type blockingMap struct{ entered, release chan struct{} }

func (m blockingMap) apply(v int64) int64 {
	select {
	case m.entered <- struct{}{}:
	default:
	}
	<-m.release
	return v
}

// waitLog waits until the log holds want.
func waitLog(t *testing.T, log *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCheckpointTimeout: a checkpoint whose barrier cannot get through (an
// operator is stuck on a record) is aborted once WithCheckpointTimeout has
// passed on the job's clock, and the job keeps running. A stop requested
// meanwhile waits behind the checkpoint; if its requester gives up first,
// the stop never happens. Once the operator moves on, a savepoint completes
// and reports its synchronous pause.
func TestCheckpointTimeout(t *testing.T) {
	var log syncBuffer
	clock := newManualClock(1_000_000)
	src := newPushSource[int64](1)
	m := blockingMap{entered: make(chan struct{}, 1), release: make(chan struct{})}
	env := weir.NewEnvironment(weir.WithLogger(slog.New(slog.NewTextHandler(&log, nil))), weir.WithClock(clock),
		weir.WithCheckpointDir(t.TempDir()), weir.WithCheckpointTimeout(50*time.Millisecond))
	in := weir.FromSource(env, src, weir.NoWatermarks[int64]()).UID("numbers")
	mapped := weir.Map(in, m.apply).UID("stuck")
	sink := newLiveSink[int64]()
	weir.To(mapped, sink).UID("sink")
	job, err := env.ExecuteAsync(context.Background(), "timeouts")
	if err != nil {
		t.Fatal(err)
	}
	src.Push(0, 1, 1) // the map takes it and blocks
	select {
	case <-m.entered:
	case <-time.After(waitTimeout):
		t.Fatal("the record never reached the map")
	}

	// The checkpoint is triggered at once and stays in flight; its
	// requester stops waiting for it.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = job.TriggerCheckpoint(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("checkpoint through a stuck operator: %v, want the requester's deadline", err)
	}
	// A stop requested now waits behind it, and its requester gives up.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = job.StopWithSavepoint(ctx, t.TempDir(), false)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop behind a stuck checkpoint: %v, want the requester's deadline", err)
	}

	clock.Advance(time.Second) // past the checkpoint's timeout
	waitLog(t, &log, "timed out")
	if strings.Contains(log.String(), "savepoint completed") {
		t.Fatalf("the abandoned stop was carried out:\n%s", log.String())
	}

	close(m.release)
	src.Push(0, 2, 2)
	sink.WaitLen(t, 2) // the job runs on: the stop nobody waited for did not happen
	path, err := job.TriggerSavepoint(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("savepoint after the operator moved on: %v", err)
	}
	stats := job.LastSnapshot()
	if stats.Path != path || stats.MaxSyncPause <= 0 || stats.MaxSyncPause > time.Second {
		t.Fatalf("LastSnapshot() = %+v, want the savepoint %s with a positive synchronous pause", stats, path)
	}
	job.Cancel()
	if err := job.Wait(); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Wait after Cancel: %v, want an error saying the job was cancelled", err)
	}
}
