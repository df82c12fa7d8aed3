package weir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weirstream/weir/internal/engine"
)

// Clock is the source of processing time; tests substitute a manual one.
type Clock = engine.Clock

// Timer is a pending Clock.AfterFunc call.
type Timer = engine.Timer

// Environment collects a job's operators and executes them.
type Environment struct {
	parallelism int
	clock       Clock
	logger      *slog.Logger
	nodes       []*engine.Node
	errs        []error
	cp          checkpointConfig
	restore     *restoreConfig
	copyFiles   bool // WithRestoreCopy
}

// Option configures an Environment.
type Option func(*Environment)

// WithParallelism sets the default parallelism of operators that set none.
func WithParallelism(n int) Option { return func(e *Environment) { e.parallelism = n } }

// WithClock sets the processing-time clock.
func WithClock(c Clock) Option {
	return func(e *Environment) {
		if c == nil {
			e.errf("weir: WithClock(nil)")
			return
		}
		e.clock = c
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(e *Environment) {
		if l == nil {
			e.errf("weir: WithLogger(nil); to silence the job pass a logger with a discarding handler")
			return
		}
		e.logger = l
	}
}

// WithRestoreCopy makes restores read a snapshot's data files into memory
// of the state's own instead of mapping them (the default on Linux; see
// docs/design.md). A mapped restore keeps state in the mapping until the
// job first uses it: a read error of the file then, or a truncation or
// rewrite of the file in place, kills the process (SIGBUS), where a copying
// restore has read everything before the job starts (and fails with an
// error if it cannot). Copy when snapshots live on a network or FUSE file
// system, or where something other than weir may rewrite their files.
func WithRestoreCopy() Option { return func(e *Environment) { e.copyFiles = true } }

// NewEnvironment returns an environment for building one job.
func NewEnvironment(opts ...Option) *Environment {
	e := &Environment{parallelism: 1, clock: engine.SystemClock{}, logger: slog.Default()}
	for _, o := range opts {
		o(e)
	}
	if e.parallelism <= 0 {
		e.errf("weir: parallelism must be at least 1, got %d", e.parallelism)
	}
	return e
}

// SetParallelism sets the default parallelism of operators that set none.
func (e *Environment) SetParallelism(n int) {
	if n <= 0 {
		e.errf("weir: parallelism must be at least 1, got %d", n)
		return
	}
	e.parallelism = n
}

// Parallelism returns the default parallelism.
func (e *Environment) Parallelism() int { return e.parallelism }

func (e *Environment) errf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, args...))
}

// addNode appends a node built by the typed API.
func (e *Environment) addNode(kind, name string, out engine.TypeOps, mk func(*engine.Context, any) (*engine.Instance, error)) *engine.Node {
	n := &engine.Node{Index: len(e.nodes), Kind: kind, Name: name, Out: out, Make: mk}
	e.nodes = append(e.nodes, n)
	return n
}

// prepare validates the job and assigns operator IDs.
func (e *Environment) prepare() error {
	if len(e.errs) > 0 {
		return errors.Join(e.errs...)
	}
	return assignIDs(e.nodes, e.logger)
}

// Execute runs the job until its sources end and every record has been
// processed, the context is cancelled, or an operator fails. It returns the
// first error of any subtask. A job with unbounded sources runs until ctx is
// cancelled, and then returns ctx's error.
func (e *Environment) Execute(ctx context.Context, jobName string) error {
	start := time.Now()
	c, err := e.ExecuteAsync(ctx, jobName)
	if err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		return err
	}
	e.logger.Debug("weir: job finished", "job", jobName, "elapsed", time.Since(start))
	return nil
}

// start runs the job without waiting for it: the snapshot driver's entry
// point. onSnapshot receives every task's snapshot of each barrier; restore,
// if not nil, is the snapshot the job starts from.
func (e *Environment) start(ctx context.Context, onSnapshot func(engine.TaskSnapshot), restore engine.RestoreSource) (*engine.Job, error) {
	if err := e.prepare(); err != nil {
		return nil, err
	}
	return engine.Start(ctx, e.nodes, engine.Options{
		Parallelism: e.parallelism, Clock: e.clock, Logger: e.logger,
		OnSnapshot: onSnapshot, Restore: restore,
	})
}

// PlanNode is one operator of a job plan.
type PlanNode struct {
	ID          string      `json:"id"`
	UID         string      `json:"uid,omitempty"`
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	Parallelism int         `json:"parallelism"`
	ChainHead   bool        `json:"chain_head"`
	Inputs      []PlanInput `json:"inputs,omitempty"`
}

// PlanInput is an edge of a job plan.
type PlanInput struct {
	ID        string `json:"id"`
	Input     int    `json:"input"`
	Partition string `json:"partition"`
}

// Plan returns the job graph as it will run: operator IDs, UIDs, names,
// parallelism, chaining and partitioning.
func (e *Environment) Plan() ([]PlanNode, error) {
	if err := e.prepare(); err != nil {
		return nil, err
	}
	p, err := engine.Compile(e.nodes, e.parallelism)
	if err != nil {
		return nil, err
	}
	out := make([]PlanNode, 0, len(e.nodes))
	for _, n := range e.nodes {
		pn := PlanNode{ID: n.ID.String(), UID: n.UID, Name: n.Name, Kind: n.Kind, Parallelism: p.Parallelism[n], ChainHead: p.IsHead(n)}
		for _, in := range n.Inputs {
			pn.Inputs = append(pn.Inputs, PlanInput{ID: in.From.ID.String(), Input: in.Input, Partition: p.Partition[in].String()})
		}
		out = append(out, pn)
	}
	return out, nil
}

// PlanJSON returns Plan as indented JSON.
func (e *Environment) PlanJSON() ([]byte, error) {
	p, err := e.Plan()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(struct {
		Operators []PlanNode `json:"operators"`
	}{p}, "", "  ")
}
