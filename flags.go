package weir

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/control"
)

// restoreModeValue is the --restore-mode flag. It accepts claim and
// no-claim, and Flink's CLAIM and NO_CLAIM.
type restoreModeValue struct{ m *RestoreMode }

func (v restoreModeValue) String() string {
	if v.m == nil || *v.m == "" {
		return ""
	}
	return string(*v.m)
}

func (v restoreModeValue) Set(s string) error {
	m, err := normalizeRestoreMode(s)
	if err != nil {
		return err
	}
	*v.m = m
	return nil
}

func normalizeRestoreMode(s string) (RestoreMode, error) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-") {
	case "claim":
		return Claim, nil
	case "no-claim":
		return NoClaim, nil
	}
	return "", errors.New("must be claim or no-claim")
}

// JobFlags are the standard flags of a job binary. The weir command passes
// them to the jobs it runs (weir run -s PATH -p 4 JOB ...):
//
//	-s, --from-savepoint PATH       start from a savepoint or retained checkpoint
//	-n, --allow-non-restored-state  skip snapshot state no operator matches or declares
//	-p, --parallelism N             default parallelism
//	--restore-mode claim|no-claim   who owns the snapshot (default no-claim)
//	--config FILE                   YAML configuration (see Config)
//	--plan                          print the job graph as JSON and exit
//	--check                         with -s: print how the job would restore, as JSON, and exit
//
// Go's flag syntax applies: -s and --s are the same flag, values follow a
// space or "=". A job gets them in one of three ways:
//
//	jf := weir.FlagsFromCommandLine() // with flags of package flag's CommandLine
//
//	var jf weir.JobFlags              // with a flag.FlagSet of its own
//	jf.Register(fs)
//	err := fs.Parse(args)
//
//	jf, rest, err := weir.ParseFlags(args) // extract them; the job parses rest
//
// and then:
//
//	env := weir.NewEnvironment(jf.Option())
//	... build the job ...
//	err := jf.Run(ctx, env, "job-name") // honours --plan; serves the control API
//
// Values given on the command line override those of the --config file.
type JobFlags struct {
	// FromSavepoint is -s/--from-savepoint: the snapshot to start from, its
	// directory or _metadata file ("" = start empty).
	FromSavepoint string
	// AllowNonRestoredState is -n/--allow-non-restored-state.
	AllowNonRestoredState bool
	// Parallelism is -p/--parallelism (0 = not given).
	Parallelism int
	// RestoreMode is --restore-mode ("" = not given: no-claim).
	RestoreMode RestoreMode
	// UIDMap is --uid-map OLD=NEW[,OLD=NEW...], repeatable: with -s, the
	// state of the snapshot's operator with UID (or ID) OLD goes to the
	// job's operator with UID NEW (WithUIDMap).
	UIDMap map[string]string
	// ConfigFile is --config, and Config its content (nil without one).
	ConfigFile string
	Config     *Config
	// Plan is --plan: Run prints the job graph as JSON and does not run it.
	Plan bool
	// Check is --check: Run prints how the job would restore from
	// FromSavepoint (Environment.Check) as JSON and does not run it.
	Check bool

	// Home is the weir home directory whose jobs/ subdirectory is the job
	// registry the weir command reads ("" = $WEIR_HOME, or ~/.weir).
	Home string
	// Stdout receives --plan's and --check's output (nil = os.Stdout).
	Stdout io.Writer

	args []string
}

// parallelismValue is the -p flag: an integer >= 1.
type parallelismValue struct{ p *int }

func (v parallelismValue) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v parallelismValue) Set(s string) error {
	n, err := ParseParallelism(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// ParseParallelism parses the value of -p/--parallelism: an integer >= 1.
// The weir command checks its own -p with it, as job binaries do.
func ParseParallelism(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, errors.New("must be an integer >= 1")
	}
	return n, nil
}

// uidMapValue is the --uid-map flag: OLD=NEW pairs, separated by commas,
// over one or more uses of the flag.
type uidMapValue struct{ m *map[string]string }

func (v uidMapValue) String() string {
	if v.m == nil || len(*v.m) == 0 {
		return ""
	}
	var pairs []string
	for _, old := range slices.Sorted(maps.Keys(*v.m)) {
		pairs = append(pairs, old+"="+(*v.m)[old])
	}
	return strings.Join(pairs, ",")
}

func (v uidMapValue) Set(s string) error {
	m, err := ParseUIDMap(s, *v.m)
	if err != nil {
		return err
	}
	*v.m = m
	return nil
}

// ParseUIDMap parses the value of --uid-map: OLD=NEW pairs separated by
// commas. It adds them to a copy of m (which may be nil), for a flag given
// more than once, and returns the result; an OLD mapped to two NEWs is an
// error. A UID holding "," or "=" cannot be given this way; WithUIDMap
// takes any.
func ParseUIDMap(s string, m map[string]string) (map[string]string, error) {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for _, pair := range strings.Split(s, ",") {
		old, uid, ok := strings.Cut(strings.TrimSpace(pair), "=")
		old, uid = strings.TrimSpace(old), strings.TrimSpace(uid)
		switch {
		case !ok || old == "" || uid == "":
			return nil, fmt.Errorf("%q: want OLD=NEW, an old UID (or operator ID) and the new UID", pair)
		case out[old] != "" && out[old] != uid:
			return nil, fmt.Errorf("%q: %s is already mapped to %s", pair, old, out[old])
		}
		out[old] = uid
	}
	return out, nil
}

// configValue is the --config flag: it loads the file when set.
type configValue struct{ jf *JobFlags }

func (v configValue) String() string {
	if v.jf == nil {
		return ""
	}
	return v.jf.ConfigFile
}

func (v configValue) Set(s string) error {
	c, err := loadConfig(s)
	if err != nil {
		return err
	}
	v.jf.ConfigFile, v.jf.Config = s, c
	return nil
}

// Register defines the standard flags on fs, storing their values in jf;
// the job defines its own flags on the same set. It panics, as fs does, if
// the job defines one of the standard names itself. Bad values fail the
// parse with one line naming the flag ("invalid value "0" for flag -p:
// must be an integer >= 1"); --config loads and checks the file when
// parsed.
func (jf *JobFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&jf.FromSavepoint, "s", "", "start from the savepoint (or retained checkpoint) at `path`: its directory or _metadata file")
	fs.StringVar(&jf.FromSavepoint, "from-savepoint", "", "start from the savepoint at `path` (same as -s)")
	fs.BoolVar(&jf.AllowNonRestoredState, "n", false, "with -s: skip (and list) savepoint state that no operator of the job matches or declares, instead of failing")
	fs.BoolVar(&jf.AllowNonRestoredState, "allow-non-restored-state", false, "same as -n")
	fs.Var(parallelismValue{&jf.Parallelism}, "p", "run operators that set no parallelism with `N` subtasks (overrides parallelism.default)")
	fs.Var(parallelismValue{&jf.Parallelism}, "parallelism", "default parallelism `N` (same as -p)")
	fs.Var(restoreModeValue{&jf.RestoreMode}, "restore-mode", "with -s: `mode` no-claim (default: the snapshot stays yours, never modified or deleted) or claim (the job owns it and deletes it once newer checkpoints subsume it)")
	fs.Var(uidMapValue{&jf.UIDMap}, "uid-map", "with -s: restore the state of the savepoint's operator with UID (or ID) OLD into the job's operator with UID NEW; `OLD=NEW` pairs, comma-separated or repeated")
	fs.Var(configValue{jf}, "config", "read settings from the YAML configuration `file` (Flink's keys, such as state.savepoints.dir; flags override it)")
	fs.BoolVar(&jf.Plan, "plan", false, "print the job graph as JSON and exit without running the job")
	fs.BoolVar(&jf.Check, "check", false, "with -s: print how the job would restore from the savepoint (each operator and state: matched, new, dropped or incompatible) as JSON, and exit without running the job; the exit status is 0 if it would restore")
}

// ParseFlags extracts the standard job flags from args, wherever they
// occur, and returns everything else — the job's own flags and arguments —
// in order. It stops at "--", which it leaves in rest with what follows. A
// flag of the job's own whose value is given as a separate argument that
// looks like a standard flag ("-out -p") is misread; write it "-out=-p".
func ParseFlags(args []string) (*JobFlags, []string, error) {
	jf := &JobFlags{}
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	jf.Register(fs)
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, value, hasValue := splitFlag(a)
		f := fs.Lookup(name)
		if name == "" || f == nil {
			rest = append(rest, a)
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag needs an argument: -%s", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return nil, nil, fmt.Errorf("invalid value %q for flag -%s: %w", value, name, err)
		}
	}
	jf.args = rest
	return jf, rest, nil
}

// splitFlag splits "-name", "--name" and "-name=value"; name is "" if a is
// not a flag.
func splitFlag(a string) (name, value string, hasValue bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", "", false
	}
	s := a[1:]
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" || s[0] == '-' || s[0] == '=' {
		return "", "", false
	}
	name, value, hasValue = strings.Cut(s, "=")
	return name, value, hasValue
}

// FlagsFromCommandLine parses os.Args[1:] for a job whose own flags, if
// any, are defined in package flag's CommandLine (flag.String, ...): it
// parses the standard flags and those together. -h prints both and exits 0;
// a bad or unknown flag prints one line and exits 2. The job's positional
// arguments are in Args.
func FlagsFromCommandLine() *JobFlags {
	jf := &JobFlags{}
	name := filepath.Base(os.Args[0])
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	jf.Register(fs)
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	fs.SetOutput(io.Discard)
	err := fs.Parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fmt.Fprintf(os.Stderr, "Usage of %s:\n", name)
		fs.PrintDefaults()
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	jf.args = fs.Args()
	return jf
}

// Args returns the arguments FlagsFromCommandLine or ParseFlags left to
// the job.
func (jf *JobFlags) Args() []string { return jf.args }

// restoreMode is the effective restore mode: the flag, the file, no-claim.
func (jf *JobFlags) restoreMode() RestoreMode {
	switch {
	case jf.RestoreMode != "":
		return jf.RestoreMode
	case jf.Config != nil && jf.Config.RestoreMode != "":
		return jf.Config.RestoreMode
	}
	return NoClaim
}

// savepointPath is the effective snapshot to restore: -s, or the file's
// execution.savepoint.path.
func (jf *JobFlags) savepointPath() string {
	if jf.FromSavepoint != "" {
		return jf.FromSavepoint
	}
	if jf.Config != nil {
		return jf.Config.SavepointPath
	}
	return ""
}

// Option returns the Option that configures an Environment from the
// flags: first the --config file's settings, then the flags over them.
func (jf *JobFlags) Option() Option {
	return func(e *Environment) {
		jf.Config.Option()(e)
		if jf.Parallelism != 0 {
			WithParallelism(jf.Parallelism)(e)
		}
		switch jf.RestoreMode {
		case "", NoClaim, Claim:
		default:
			e.errf("weir: restore mode %q: must be claim or no-claim", string(jf.RestoreMode))
		}
		path := jf.savepointPath()
		if path == "" && len(jf.UIDMap) > 0 {
			e.errf("weir: --uid-map maps the operators of a savepoint: give the savepoint with -s (or execution.savepoint.path)")
		}
		if path != "" {
			ro := []RestoreOption{WithRestoreMode(jf.restoreMode())}
			if jf.AllowNonRestoredState || (jf.Config != nil && jf.Config.IgnoreUnclaimedState) {
				ro = append(ro, AllowNonRestoredState())
			}
			if len(jf.UIDMap) > 0 {
				ro = append(ro, WithUIDMap(jf.UIDMap))
			}
			FromSavepoint(path, ro...)(e)
		}
	}
}

// Run runs the job built on env as the flags say. With --plan it writes
// env.PlanJSON() and a newline to Stdout and returns without running; with
// --check it writes env.Check()'s report as JSON and returns without
// running, with an error if the job would not restore.
// Otherwise it starts the job, serves the control API for it on rest.address
// (default 127.0.0.1 on a free port), registers it in the job registry so
// that the weir command finds it by ID, and waits for the job to end — it
// finishes, is stopped with a savepoint, cancelled (through the API, or
// because ctx is done), or fails. Then it removes the registry entry and
// shuts the server down (after answering the request that stopped the job).
//
// Run returns nil when the job finished or was stopped with a savepoint, an
// error wrapping context.Canceled when it was cancelled, and the job's error
// when it failed. A registry that cannot be written is logged, not fatal:
// the job runs, but the weir command will not find it.
func (jf *JobFlags) Run(ctx context.Context, env *Environment, name string) error {
	out := jf.Stdout
	if out == nil {
		out = os.Stdout
	}
	if jf.Plan {
		b, err := env.PlanJSON()
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	if jf.Check {
		return check(env, out)
	}
	log := env.logger
	restored := jf.savepointPath()
	started := time.Now()
	c, err := env.ExecuteAsync(ctx, name)
	if err != nil {
		return err
	}
	srv := control.NewServer(control.Options{Logger: log})
	info := control.JobInfo{Name: name, Started: started, Parallelism: env.Parallelism(), RestoredFrom: restored}
	if restored != "" {
		info.RestoreMode = string(jf.restoreMode())
	}
	srv.Add(c, info)
	addr := ""
	if jf.Config != nil {
		addr = jf.Config.RESTAddress
	}
	bound, err := srv.Listen(addr)
	if err != nil {
		c.Cancel()
		_ = c.Wait()
		return fmt.Errorf("weir: job %q: %w (configure another rest.address)", name, err)
	}
	reg, regErr := jf.registry()
	if regErr == nil {
		regErr = reg.Register(control.Entry{ID: c.ID(), Name: name, Address: bound, PID: os.Getpid(), Started: started})
	}
	if regErr != nil {
		log.Warn("weir: the job is not registered; the weir command will not find it", "err", regErr)
		reg = nil
	}
	log.Info("weir: job running", "job", name, "id", c.ID(), "control", "http://"+bound)

	err = c.Wait()
	srv.JobEnded(c.ID(), err)
	if reg != nil {
		if rerr := reg.Remove(c.ID()); rerr != nil {
			log.Warn("weir: cannot remove the job's registry entry", "err", rerr)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Warn("weir: control server shutdown", "err", serr)
	}
	switch {
	case err == nil:
		log.Info("weir: job finished", "job", name, "id", c.ID(), "elapsed", time.Since(started).Round(time.Millisecond))
		return nil
	case errors.Is(err, context.Canceled):
		log.Info("weir: job cancelled", "job", name, "id", c.ID())
		return fmt.Errorf("weir: job %q (%s) was cancelled: %w", name, c.ID(), context.Canceled)
	}
	return err
}

func (jf *JobFlags) registry() (*control.Registry, error) {
	home := jf.Home
	if home == "" {
		var err error
		if home, err = control.DefaultHome(); err != nil {
			return nil, err
		}
	}
	return control.NewRegistry(home), nil
}

// check writes env.Check()'s report to out as JSON, and fails if the job
// would not restore.
func check(env *Environment, out io.Writer) error {
	r, err := env.Check()
	if err != nil {
		return err
	}
	b, err := r.JSON()
	if err != nil {
		return err
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		return err
	}
	if !r.Restores {
		return errors.New("weir: " + r.Verdict())
	}
	return nil
}
