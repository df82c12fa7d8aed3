package weir

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Config is a job's configuration file: YAML with Flink's key names, nested
// (state: {savepoints: {dir: ...}}) or flat (state.savepoints.dir: ...).
// The zero value of a field means "not set": the Environment's default
// applies. Load one with LoadConfig (or the --config job flag); apply it
// with Option. Command-line flags override it (see JobFlags).
//
//	state.savepoints.dir                      WithSavepointDir
//	state.checkpoints.dir                     WithCheckpointDir
//	state.checkpoints.num-retained            WithRetainedCheckpoints
//	execution.checkpointing.interval          WithCheckpointInterval
//	execution.checkpointing.timeout           WithCheckpointTimeout
//	parallelism.default                       WithParallelism
//	execution.savepoint.path                  FromSavepoint (-s)
//	execution.savepoint.ignore-unclaimed-state AllowNonRestoredState (-n)
//	execution.savepoint-restore-mode          --restore-mode
//	state.restore.copy-files                  WithRestoreCopy (when true)
//	rest.address                              the control server's address
//
// Durations are Go durations ("10s", "1m30s") or a plain number of
// milliseconds (Flink's default unit). Relative paths are relative to the
// job's working directory.
type Config struct {
	// SavepointDir is state.savepoints.dir.
	SavepointDir string
	// CheckpointDir is state.checkpoints.dir.
	CheckpointDir string
	// RetainedCheckpoints is state.checkpoints.num-retained (0 = unset).
	RetainedCheckpoints int
	// CheckpointInterval is execution.checkpointing.interval (0 = unset:
	// no periodic checkpoints).
	CheckpointInterval time.Duration
	// CheckpointTimeout is execution.checkpointing.timeout (0 = unset).
	CheckpointTimeout time.Duration
	// Parallelism is parallelism.default (0 = unset).
	Parallelism int
	// SavepointPath is execution.savepoint.path: the snapshot to start from.
	SavepointPath string
	// IgnoreUnclaimedState is execution.savepoint.ignore-unclaimed-state.
	IgnoreUnclaimedState bool
	// RestoreMode is execution.savepoint-restore-mode ("" = unset).
	RestoreMode RestoreMode
	// RestoreCopyFiles is state.restore.copy-files, a key of weir's own:
	// restores read data files into memory instead of mapping them.
	RestoreCopyFiles bool
	// RESTAddress is rest.address, host:port ("" = 127.0.0.1 on a port the
	// system picks). The control API has no authentication: bind it to
	// anything but a loopback address only on a trusted network.
	RESTAddress string
}

// configKey is one known key: how to parse it into a Config.
type configKey struct {
	name string
	set  func(c *Config, v any) error
}

var configKeys = []configKey{
	{"state.savepoints.dir", func(c *Config, v any) (err error) { c.SavepointDir, err = configString(v); return }},
	{"state.checkpoints.dir", func(c *Config, v any) (err error) { c.CheckpointDir, err = configString(v); return }},
	{"state.checkpoints.num-retained", func(c *Config, v any) (err error) { c.RetainedCheckpoints, err = configPositive(v); return }},
	{"execution.checkpointing.interval", func(c *Config, v any) (err error) {
		c.CheckpointInterval, err = configDuration(v, false)
		return
	}},
	{"execution.checkpointing.timeout", func(c *Config, v any) (err error) {
		c.CheckpointTimeout, err = configDuration(v, true)
		return
	}},
	{"parallelism.default", func(c *Config, v any) (err error) { c.Parallelism, err = configPositive(v); return }},
	{"execution.savepoint.path", func(c *Config, v any) (err error) { c.SavepointPath, err = configString(v); return }},
	{"execution.savepoint.ignore-unclaimed-state", func(c *Config, v any) (err error) {
		c.IgnoreUnclaimedState, err = configBool(v)
		return
	}},
	{"execution.savepoint-restore-mode", func(c *Config, v any) error {
		s, err := configString(v)
		if err != nil {
			return err
		}
		c.RestoreMode, err = normalizeRestoreMode(s)
		return err
	}},
	{"state.restore.copy-files", func(c *Config, v any) (err error) {
		c.RestoreCopyFiles, err = configBool(v)
		return
	}},
	{"rest.address", func(c *Config, v any) (err error) {
		if c.RESTAddress, err = configString(v); err != nil {
			return err
		}
		return checkAddress(c.RESTAddress)
	}},
}

// ConfigKeys returns the keys a configuration file may hold, sorted.
func ConfigKeys() []string {
	out := make([]string, len(configKeys))
	for i, k := range configKeys {
		out[i] = k.name
	}
	sort.Strings(out)
	return out
}

// LoadConfig reads a YAML configuration file. Unknown keys and bad values
// are errors naming the key (and, for unknown keys, listing the known ones).
func LoadConfig(path string) (*Config, error) {
	c, err := loadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("weir: config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses a YAML configuration from memory, as LoadConfig does
// a file.
func ParseConfig(data []byte) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(bytesProvider(data), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("weir: config: %w", err)
	}
	c, err := configFrom(k)
	if err != nil {
		return nil, fmt.Errorf("weir: config: %w", err)
	}
	return c, nil
}

// loadConfig is LoadConfig with errors that do not repeat the path, for
// the --config flag (whose error names the flag and the path).
func loadConfig(path string) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return nil, oneLineErr(err)
	}
	return configFrom(k)
}

func configFrom(k *koanf.Koanf) (*Config, error) {
	all := k.All()
	known := make(map[string]configKey, len(configKeys))
	for _, ck := range configKeys {
		known[ck.name] = ck
	}
	var unknown []string
	for key := range all {
		if _, ok := known[key]; !ok {
			unknown = append(unknown, strconv.Quote(key))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		word := "key"
		if len(unknown) > 1 {
			word = "keys"
		}
		return nil, fmt.Errorf("unknown %s %s (known keys: %s)", word, strings.Join(unknown, ", "), strings.Join(ConfigKeys(), ", "))
	}
	c := &Config{}
	keys := make([]string, 0, len(all))
	for key := range all {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		v := all[key]
		if err := known[key].set(c, v); err != nil {
			return nil, fmt.Errorf("key %s: bad value %s: %w", key, showValue(v), err)
		}
	}
	return c, nil
}

// Option returns the Option that applies c's settings to an Environment.
// Unset fields are left alone. (RESTAddress and RestoreMode are not
// Environment settings; JobFlags.Run uses them.)
func (c *Config) Option() Option {
	return func(e *Environment) {
		if c == nil {
			return
		}
		if c.SavepointDir != "" {
			WithSavepointDir(c.SavepointDir)(e)
		}
		if c.CheckpointDir != "" {
			WithCheckpointDir(c.CheckpointDir)(e)
		}
		if c.RetainedCheckpoints != 0 {
			WithRetainedCheckpoints(c.RetainedCheckpoints)(e)
		}
		if c.CheckpointInterval != 0 {
			WithCheckpointInterval(c.CheckpointInterval)(e)
		}
		if c.CheckpointTimeout != 0 {
			WithCheckpointTimeout(c.CheckpointTimeout)(e)
		}
		if c.Parallelism != 0 {
			WithParallelism(c.Parallelism)(e)
		}
		if c.RestoreCopyFiles {
			WithRestoreCopy()(e)
		}
		if c.SavepointPath != "" {
			ro := []RestoreOption{WithRestoreMode(NoClaim)}
			if c.RestoreMode != "" {
				ro[0] = WithRestoreMode(c.RestoreMode)
			}
			if c.IgnoreUnclaimedState {
				ro = append(ro, AllowNonRestoredState())
			}
			FromSavepoint(c.SavepointPath, ro...)(e)
		}
	}
}

func showValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if v == nil {
		return "(empty)"
	}
	return fmt.Sprint(v)
}

func configString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "", errors.New("want a non-empty string")
		}
		return v, nil
	case nil:
		return "", errors.New("want a value")
	}
	return "", errors.New("want a string")
}

func configInt(v any) (int64, error) {
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint64:
		if v > math.MaxInt64 {
			return 0, errors.New("too large")
		}
		return int64(v), nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, errors.New("want an integer")
		}
		return int64(v), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, errors.New("want an integer")
		}
		return n, nil
	}
	return 0, errors.New("want an integer")
}

func configPositive(v any) (int, error) {
	n, err := configInt(v)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > math.MaxInt32 {
		return 0, errors.New("want an integer >= 1")
	}
	return int(n), nil
}

func configBool(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return false, errors.New("want true or false")
}

// configDuration parses a Go duration or a number of milliseconds.
func configDuration(v any, positive bool) (time.Duration, error) {
	var d time.Duration
	if s, ok := v.(string); ok && strings.TrimLeft(strings.TrimSpace(s), "-0123456789") != "" {
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(s)); err != nil {
			return 0, errors.New(`want a duration such as "10s", "500ms" or "1m30s", or a number of milliseconds`)
		}
	} else {
		ms, err := configInt(v)
		if err != nil {
			return 0, errors.New(`want a duration such as "10s", "500ms" or "1m30s", or a number of milliseconds`)
		}
		if ms > math.MaxInt64/int64(time.Millisecond) || ms < -math.MaxInt64/int64(time.Millisecond) {
			return 0, errors.New("too large")
		}
		d = time.Duration(ms) * time.Millisecond
	}
	switch {
	case positive && d <= 0:
		return 0, errors.New("want a positive duration")
	case d < 0:
		return 0, errors.New("want a duration >= 0")
	}
	return d, nil
}

// checkAddress checks a host:port listen address.
func checkAddress(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return errors.New("want host:port, such as 127.0.0.1:8081")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("want host:port with a port number in [0, 65535]")
	}
	return nil
}

// bytesProvider is a koanf.Provider of YAML bytes in memory.
type bytesProvider []byte

// ReadBytes implements koanf.Provider.
func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

// Read implements koanf.Provider; the bytes need a parser.
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("weir: config bytes need a parser")
}

// oneLineErr flattens a multi-line error (YAML parser errors span lines).
func oneLineErr(err error) error {
	s := err.Error()
	if !strings.Contains(s, "\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " "))
}
