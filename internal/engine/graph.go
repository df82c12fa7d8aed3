package engine

import (
	"encoding/hex"
	"math"
	"time"

	"github.com/weirstream/weir/internal/backend"
	"github.com/weirstream/weir/internal/backend/opstate"
)

// Watermark bounds.
const (
	// MinWatermark is the watermark before any has been seen.
	MinWatermark = math.MinInt64
	// MaxWatermark is the final watermark, sent when an input ends.
	MaxWatermark = math.MaxInt64
	// NoTimestamp marks a record without an event timestamp.
	NoTimestamp = math.MinInt64
)

// OperatorID identifies an operator across runs, versions and savepoints.
type OperatorID [16]byte

// String returns the ID as 32 lowercase hex digits.
func (id OperatorID) String() string { return hex.EncodeToString(id[:]) }

// Partition says how records of an edge are routed to the consumer's
// subtasks.
type Partition uint8

const (
	// PartitionDefault is Forward when both ends have the same parallelism
	// and Rebalance otherwise.
	PartitionDefault Partition = iota
	// PartitionForward sends subtask i's records to subtask i; both ends
	// must have the same parallelism.
	PartitionForward
	// PartitionHash sends a record to the subtask owning its key's hash.
	PartitionHash
	// PartitionRebalance deals records round-robin.
	PartitionRebalance
	// PartitionBroadcast sends every record to every subtask.
	PartitionBroadcast
)

var partitionNames = [...]string{"DEFAULT", "FORWARD", "HASH", "REBALANCE", "BROADCAST"}

// String returns the partitioner's name as the plan shows it.
func (p Partition) String() string { return partitionNames[p] }

// Node is one operator of a job graph. The typed API builds nodes; the
// engine instantiates them once per subtask.
type Node struct {
	// Index is the node's position in creation order.
	Index int
	// ID is the operator's stable identity; assigned by the API.
	ID OperatorID
	// UID is the user-given unique ID, if any.
	UID string
	// Name is shown in plans, logs and errors.
	Name string
	// Kind names the operator type, such as "map" or "window".
	Kind string
	// Parallelism is the number of subtasks; 0 means the job default.
	Parallelism int
	// ChainingDisabled keeps the node out of its neighbours' chains.
	ChainingDisabled bool
	// Inputs are the edges into the node, in the order the API added them.
	Inputs []*Edge
	// Outputs are the edges out of the node.
	Outputs []*Edge
	// Out describes the node's output type; nil for sinks.
	Out TypeOps
	// Make creates the operator for one subtask. out is an Output[T] of the
	// node's output type (nil for sinks).
	Make func(ctx *Context, out any) (*Instance, error)
}

// Edge connects the output of From to input Input (0 or 1) of To.
type Edge struct {
	From, To  *Node
	Input     int
	Partition Partition
	// KeyHash is a func(T) uint64 giving the stable key hash of a record,
	// for PartitionHash. T is From's output type.
	KeyHash any
}

// Connect adds an edge from `from` to input `input` of `to`.
func Connect(from, to *Node, input int, p Partition, keyHash any) *Edge {
	e := &Edge{From: from, To: to, Input: input, Partition: p, KeyHash: keyHash}
	from.Outputs = append(from.Outputs, e)
	to.Inputs = append(to.Inputs, e)
	return e
}

// Instance is one subtask's operator.
type Instance struct {
	// Inputs are the operator's record inputs: Inputs[i] is an Output[T_i]
	// for logical input i. Empty for sources.
	Inputs [2]any
	// Source drives a source operator; nil for others.
	Source SourceDriver
	// Finish is called once when all inputs have ended (after the final
	// watermark), before End is sent downstream; operators flush there.
	Finish func()
	// Close releases resources; called once when the task stops, whether it
	// finished or failed.
	Close func() error

	// Keyed is the operator's keyed state, snapshotted at barriers; nil
	// for operators without keyed state.
	Keyed backend.Keyed
	// Operator is the operator's operator (non-keyed) state; may be nil.
	Operator *opstate.Backend
	// BeforeSnapshot, if set, runs at a barrier before the state is
	// captured (a source records its split positions there).
	BeforeSnapshot func() error
	// Drain, set by sources, emits the final watermark; it runs before a
	// barrier of a stop with drain.
	Drain func()
}

// SourceDriver is a source operator's side of the task loop.
type SourceDriver interface {
	// Poll emits a bounded amount of records and watermarks into the chain.
	// It returns done once the source has nothing more, ever, or wait > 0 to
	// ask not to be polled again before that much time has passed.
	Poll() (wait time.Duration, done bool, err error)
}

// CacheLinePad separates per-subtask data written on every record from its
// neighbours in memory. Subtasks of one operator are allocated together, so
// without it two cores writing their own counters would share a cache line
// and slow each other down (false sharing). Put it last in a struct whose
// hot fields come first.
type CacheLinePad struct{ _ [64]byte }

// Output receives the records and watermarks an operator emits.
//
// Records pass by pointer so that a record crosses a chain without being
// copied at every operator: *v is valid only during the call, and the
// callee must neither modify it nor keep the pointer (it copies what it
// keeps).
type Output[T any] interface {
	// Collect emits one record with its event timestamp.
	Collect(ts int64, v *T)
	// Watermark emits a watermark: no record with a timestamp at or below it
	// should follow.
	Watermark(wm int64)
}
