package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/weirstream/weir/internal/snapshot/format"
	"github.com/weirstream/weir/serde"
)

// inspectReport is what weir inspect shows of a snapshot (and its --json
// form).
type inspectReport struct {
	Path          string           `json:"path"`
	Kind          string           `json:"kind"`
	SnapshotID    uint64           `json:"snapshot_id"`
	JobName       string           `json:"job_name"`
	JobID         string           `json:"job_id"`
	Timestamp     int64            `json:"timestamp"` // epoch milliseconds
	Time          string           `json:"time"`      // RFC 3339, UTC
	EngineVersion string           `json:"engine_version"`
	FormatVersion int              `json:"format_version"`
	Operators     []operatorReport `json:"operators"`
	Totals        totalsReport     `json:"totals"`
	Verified      bool             `json:"verified,omitempty"`
}

type operatorReport struct {
	ID          string        `json:"id"`
	UID         string        `json:"uid,omitempty"`
	Name        string        `json:"name"`
	Parallelism int           `json:"parallelism"`
	States      []stateReport `json:"states"`
	Entries     uint64        `json:"entries"`
	Bytes       uint64        `json:"bytes"`
}

// stateReport describes one state. Schemas are rendered by serde's
// Schema.String, "-" when none was recorded. For keyed state, entries and
// bytes come from the block index (bytes as stored: headers, checksums and
// compression included); for operator list state, elements and their
// encoded size.
type stateReport struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Key       string `json:"key_schema"`
	Namespace string `json:"namespace_schema"`
	Value     string `json:"value_schema"`
	Entries   uint64 `json:"entries"`
	Bytes     uint64 `json:"bytes"`
	Files     int    `json:"files"`
	// Problem is why a restore could not open the state's data files
	// (format.Snapshot.CheckFiles), "" if it could.
	Problem string `json:"problem,omitempty"`
}

type totalsReport struct {
	Operators int    `json:"operators"`
	States    int    `json:"states"`
	Entries   uint64 `json:"entries"`
	Bytes     uint64 `json:"bytes"`
}

func newInspect() *cobra.Command {
	var asJSON, verify bool
	cmd := &cobra.Command{
		Use:   "inspect [--json] [--verify] PATH",
		Short: "Show what a savepoint or checkpoint holds",
		Long: `inspect reads the _metadata of the snapshot at PATH (its directory or _metadata file)
and shows the job, the snapshot, and per operator its ID, UID, name and parallelism
and its states with their kind, key/namespace/value schemas, number of entries and
size. It checks each keyed state's data files as a restore opens them (there, data
files, as long as the index says) and exits 1 after the report if one is not.
With --verify it also reads every data block and checks its checksum.`,
		Args: wantArgs(1, 1, "inspect [--json] [--verify] PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := format.Open(args[0])
			if err != nil {
				return err
			}
			if verify {
				if err := s.Verify(); err != nil {
					return err
				}
			}
			r := buildReport(s)
			r.Verified = verify
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
				return damaged(r)
			}
			printReport(cmd.OutOrStdout(), r)
			return damaged(r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&verify, "verify", false, "read every data block and check its checksum")
	return cmd
}

func buildReport(s *format.Snapshot) *inspectReport {
	md := s.Metadata()
	r := &inspectReport{Path: s.Dir(), Kind: md.Kind.String(), SnapshotID: md.SnapshotID, JobName: md.JobName,
		JobID: hex.EncodeToString(md.JobID[:]), Timestamp: md.Timestamp,
		Time:          time.UnixMilli(md.Timestamp).UTC().Format(time.RFC3339Nano),
		EngineVersion: md.EngineVersion, FormatVersion: int(md.FormatVersion), Operators: []operatorReport{}}
	for _, op := range md.Operators {
		or := operatorReport{ID: op.ID.String(), UID: op.UID, Name: op.Name, Parallelism: op.Parallelism, States: []stateReport{}}
		for _, st := range op.States {
			sr := stateReport{Name: st.Name, Kind: st.Kind.String(), Key: schemaString(st.KeySchema),
				Namespace: schemaString(st.NamespaceSchema), Value: schemaString(st.ValueSchema), Files: len(st.Files)}
			if st.Kind.IsKeyed() {
				if err := s.CheckFiles(op.ID, st.Name); err != nil {
					sr.Problem = err.Error()
				}
			}
			for _, f := range st.Files {
				for _, b := range f.Blocks {
					sr.Entries += b.Entries
					sr.Bytes += b.Length
				}
			}
			for _, l := range st.Lists {
				sr.Entries += uint64(len(l.Elements))
				for _, e := range l.Elements {
					sr.Bytes += uint64(len(e))
				}
			}
			or.States = append(or.States, sr)
			or.Entries += sr.Entries
			or.Bytes += sr.Bytes
		}
		r.Operators = append(r.Operators, or)
		r.Totals.Operators++
		r.Totals.States += len(or.States)
		r.Totals.Entries += or.Entries
		r.Totals.Bytes += or.Bytes
	}
	return r
}

// damaged returns an error naming the first state of r whose data files a
// restore could not open, nil if there is none.
func damaged(r *inspectReport) error {
	for _, op := range r.Operators {
		for _, st := range op.States {
			if st.Problem != "" {
				return &exitError{code: 1, msg: fmt.Sprintf("operator %s state %q cannot be restored: %s; restore from another savepoint or retained checkpoint",
					op.ID, st.Name, st.Problem)}
			}
		}
	}
	return nil
}

// schemaString renders an encoded serializer snapshot, "-" if empty.
func schemaString(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	s, n, err := serde.ReadSchema(b)
	if err != nil {
		return "(unreadable schema: " + err.Error() + ")"
	}
	if n != len(b) {
		return fmt.Sprintf("%s (+%d bytes after the schema)", s.String(), len(b)-n)
	}
	return s.String()
}

func printReport(w io.Writer, r *inspectReport) {
	fmt.Fprintf(w, "%s %s\n", r.Kind, r.Path)
	fmt.Fprintf(w, "  job:       %s (%s)\n", r.JobName, r.JobID)
	fmt.Fprintf(w, "  snapshot:  %s %d, taken %s\n", r.Kind, r.SnapshotID, r.Time)
	fmt.Fprintf(w, "  written by weir %s, format version %d\n", r.EngineVersion, r.FormatVersion)
	fmt.Fprintf(w, "  totals:    %d operators, %d states, %d entries, %s\n", r.Totals.Operators, r.Totals.States, r.Totals.Entries, size(r.Totals.Bytes))
	if r.Verified {
		fmt.Fprintf(w, "  verified:  every data block's checksum matches\n")
	}
	for _, op := range r.Operators {
		uid := op.UID
		if uid == "" {
			uid = "-"
		} else {
			uid = fmt.Sprintf("%q", uid)
		}
		fmt.Fprintf(w, "\noperator %s  uid %s  name %q  parallelism %d  (%d %s, %d entries, %s)\n",
			op.ID, uid, op.Name, op.Parallelism, len(op.States), plural(len(op.States), "state", "states"), op.Entries, size(op.Bytes))
		for _, st := range op.States {
			files := ""
			if st.Files > 0 {
				files = fmt.Sprintf(" in %d %s", st.Files, plural(st.Files, "file", "files"))
			}
			fmt.Fprintf(w, "  state %q  %s  %d entries  %s%s\n", st.Name, st.Kind, st.Entries, size(st.Bytes), files)
			fmt.Fprintf(w, "    key        %s\n", st.Key)
			fmt.Fprintf(w, "    namespace  %s\n", st.Namespace)
			fmt.Fprintf(w, "    value      %s\n", st.Value)
			if st.Problem != "" {
				fmt.Fprintf(w, "    UNREADABLE %s\n", st.Problem)
			}
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// size formats a byte count exactly, with a binary-prefixed figure when it
// helps.
func size(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%d bytes (%s %s)", n, strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0"), units[u])
}
