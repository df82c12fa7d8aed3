package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// HomeEnv names the environment variable that overrides the weir home
// directory (default ~/.weir). The registry lives in <home>/jobs.
const HomeEnv = "WEIR_HOME"

// DefaultHome returns $WEIR_HOME, or ~/.weir.
func DefaultHome() (string, error) {
	if h := os.Getenv(HomeEnv); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("control: no home directory for the job registry (set %s): %w", HomeEnv, err)
	}
	return filepath.Join(u, ".weir"), nil
}

// Entry is a registered job: how the weir command reaches it.
type Entry struct {
	// ID is the job's ID, 32 lowercase hex digits.
	ID string `json:"id"`
	// Name is the job's name.
	Name string `json:"name"`
	// Address is the control server's host:port.
	Address string `json:"address"`
	// PID is the job process's ID.
	PID int `json:"pid"`
	// Started is when the job started.
	Started time.Time `json:"started"`
}

// Registry is a directory of Entry files, one <id>.json per running job.
// Entries are written atomically (temporary file, fsync, rename) and removed
// by the job when it ends; readers remove entries whose process has died.
// Several processes may use one registry at once.
type Registry struct {
	dir string
}

// NewRegistry returns the registry under home (<home>/jobs).
func NewRegistry(home string) *Registry { return &Registry{dir: filepath.Join(home, "jobs")} }

// Dir returns the registry's directory.
func (r *Registry) Dir() string { return r.dir }

func (r *Registry) path(id string) string { return filepath.Join(r.dir, id+".json") }

// Register writes e's entry, replacing any entry of the same ID.
func (r *Registry) Register(e Entry) error {
	if !ValidJobID(e.ID) {
		return fmt.Errorf("control: register %q: %w", e.ID, ErrBadJobID)
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("control: job registry: %w", err)
	}
	f, err := os.CreateTemp(r.dir, "."+e.ID+".json.tmp-*")
	if err != nil {
		return fmt.Errorf("control: job registry: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, r.path(e.ID))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("control: job registry: %w", err)
	}
	return nil
}

// Remove deletes job id's entry; a missing entry is not an error.
func (r *Registry) Remove(id string) error {
	if !ValidJobID(id) {
		return fmt.Errorf("control: remove %q: %w", id, ErrBadJobID)
	}
	if err := os.Remove(r.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: job registry: %w", err)
	}
	return nil
}

// Lookup returns job id's entry. An entry whose process has died is removed
// and reported as ErrUnknownJob, like a missing one.
func (r *Registry) Lookup(id string) (Entry, error) {
	if !ValidJobID(id) {
		return Entry{}, fmt.Errorf("%q: %w", id, ErrBadJobID)
	}
	e, err := readEntry(r.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("no running job with ID %s in %s: %w", id, r.dir, ErrUnknownJob)
	}
	if err != nil {
		return Entry{}, err
	}
	if e.ID != id {
		return Entry{}, fmt.Errorf("control: registry entry %s holds job %q", r.path(id), e.ID)
	}
	if !processAlive(e.PID) {
		_ = r.Remove(id)
		return Entry{}, fmt.Errorf("job %s is not running (its process %d has exited; removed its stale registry entry): %w", id, e.PID, ErrUnknownJob)
	}
	return e, nil
}

// List returns the entries of live processes, oldest first, and removes
// the entries of dead ones. Files that are not entries are skipped.
func (r *Registry) List() ([]Entry, error) {
	des, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: job registry: %w", err)
	}
	var out []Entry
	for _, de := range des {
		name := de.Name()
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !ValidJobID(id) || de.IsDir() {
			continue
		}
		e, err := readEntry(filepath.Join(r.dir, name))
		if err != nil || e.ID != id {
			continue // removed meanwhile, or not ours: leave it alone
		}
		if !processAlive(e.PID) {
			_ = r.Remove(id)
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func readEntry(path string) (Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("control: registry entry %s: %w", path, err)
	}
	return e, nil
}
