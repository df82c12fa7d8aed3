package weir

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/twmb/murmur3"
	"github.com/weirstream/weir/internal/engine"
)

// UIDHash returns the operator ID weir derives from a UID: the 128-bit
// murmur3 hash (seed 0) of the UID's bytes. It is part of the savepoint
// format.
func UIDHash(uid string) [16]byte {
	h1, h2 := murmur3.SeedStringSum128(0, 0, uid)
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], h1)
	binary.BigEndian.PutUint64(id[8:], h2)
	return id
}

// parseID parses 32 hex digits.
func parseID(s string) (engine.OperatorID, error) {
	var id engine.OperatorID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("weir: operator ID %q is not 32 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// stateful lists the operator kinds that keep state; operators of these
// kinds without a UID get a warning.
var stateful = map[string]bool{
	"source": true, "process": true, "reduce": true, "aggregate": true, "window": true,
	"interval-join": true, "co-process-keyed": true,
}

// assignIDs gives every node its ID: pinned by UIDHash, hashed from the UID,
// or derived from the node's kind, its inputs' IDs and its rank among
// siblings of the same shape. Nodes are visited in creation order, so inputs
// always have their IDs first.
func assignIDs(nodes []*engine.Node, log *slog.Logger) error {
	byUID := map[string]*engine.Node{}
	byID := map[engine.OperatorID]*engine.Node{}
	rank := map[string]int{}
	for _, n := range nodes {
		switch {
		case n.UID != "" && n.ID != (engine.OperatorID{}):
			// pinned with UIDHash; UID kept for display only
		case n.UID != "":
			if other, ok := byUID[n.UID]; ok {
				return fmt.Errorf("weir: operators %q and %q both have UID %q; UIDs must be unique within a job", other.Name, n.Name, n.UID)
			}
			byUID[n.UID] = n
			n.ID = UIDHash(n.UID)
		case n.ID == (engine.OperatorID{}):
			sig := "weir/auto/v1|" + n.Kind
			for _, in := range n.Inputs {
				sig += "|" + in.From.ID.String() + ":" + strconv.Itoa(in.Input)
			}
			r := rank[sig]
			rank[sig]++
			n.ID = UIDHash(sig + "#" + strconv.Itoa(r))
			if stateful[n.Kind] {
				log.Warn("weir: stateful operator has no UID; its state will not survive changes to the job's topology. Set one with .UID(...)",
					"operator", n.Name, "id", n.ID.String())
			}
		}
		if other, ok := byID[n.ID]; ok {
			return fmt.Errorf("weir: operators %q and %q have the same ID %s", other.Name, n.Name, n.ID)
		}
		byID[n.ID] = n
	}
	return nil
}
