package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultAddress is where a server listens unless configured otherwise
// (rest.address): the loopback interface, on a port the system picks.
const DefaultAddress = "127.0.0.1:0"

// maxBody bounds request bodies; they are a few small fields.
const maxBody = 1 << 16

// Options configure a Server.
type Options struct {
	// Logger receives one line per request that changes a job (savepoint,
	// stop, cancel, checkpoint) and per failure. Default slog.Default().
	Logger *slog.Logger
	// PID is reported in job details. Default os.Getpid().
	PID int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Server serves the control API for the jobs added to it. It is an
// http.Handler; Listen also serves it on a TCP address. Its methods may be
// called from any goroutine.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu struct {
		sync.Mutex
		jobs  map[string]*served
		order []string // job IDs in the order they were added
	}

	srv    *http.Server
	ln     net.Listener
	served chan struct{} // closed when Serve returns
}

// served is one job and what the server knows of it.
type served struct {
	job     Job
	info    JobInfo
	state   State
	ended   time.Time
	failure string
}

// NewServer returns a server with no jobs.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PID == 0 {
		opts.PID = os.Getpid()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mu.jobs = map[string]*served{}
	s.mux.HandleFunc("GET /jobs", s.listJobs)
	s.mux.HandleFunc("GET /jobs/{id}", s.withJob(s.jobDetails))
	s.mux.HandleFunc("PATCH /jobs/{id}", s.withJob(s.patchJob))
	s.mux.HandleFunc("POST /jobs/{id}/cancel", s.withJob(s.cancel))
	s.mux.HandleFunc("POST /jobs/{id}/savepoints", s.withJob(s.savepoint))
	s.mux.HandleFunc("POST /jobs/{id}/stop", s.withJob(s.stop))
	s.mux.HandleFunc("GET /jobs/{id}/checkpoints", s.withJob(s.checkpoints))
	s.mux.HandleFunc("POST /jobs/{id}/checkpoints", s.withJob(s.triggerCheckpoint))
	return s
}

// Add serves job j, in state RUNNING. Adding a job whose ID is served
// already replaces it.
func (s *Server) Add(j Job, info JobInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := j.ID()
	if _, ok := s.mu.jobs[id]; !ok {
		s.mu.order = append(s.mu.order, id)
	}
	s.mu.jobs[id] = &served{job: j, info: info, state: Running}
}

// JobEnded records that job id ended with err (what its Wait returned):
// FINISHED if err is nil, CANCELED if it wraps context.Canceled, FAILED
// otherwise. The job stays listed with its final state. Only the first
// call for a job counts.
func (s *Server) JobEnded(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sj := s.mu.jobs[id]
	if sj == nil || !sj.ended.IsZero() {
		return
	}
	sj.ended = s.opts.Now()
	switch {
	case err == nil:
		sj.state = Finished
	case errors.Is(err, context.Canceled):
		sj.state = Canceled
	default:
		sj.state, sj.failure = Failed, err.Error()
	}
}

// ServeHTTP implements http.Handler. The API has no authentication, so it
// refuses what a web page could send a local server: requests with an
// Origin header (browsers add one to cross-origin requests), and, on a
// loopback address, requests whose Host is a name other than localhost
// (DNS rebinding).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		writeError(w, http.StatusForbidden, "cross-origin requests are refused")
		return
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && isLoopback(local) && !literalHost(r.Host) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is refused: address the server by IP or as localhost", r.Host))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// literalHost reports whether a Host header names an IP address or
// localhost.
func literalHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "localhost" || net.ParseIP(host) != nil
}

// Listen binds addr ("" = DefaultAddress), serves the API on it in the
// background and returns the bound address (host:port). Call Shutdown to
// stop serving.
func (s *Server) Listen(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddress
	}
	if s.srv != nil {
		return "", errors.New("control: the server is listening already")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("control: cannot listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn)}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Warn("control: server stopped", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// Shutdown stops listening, waits for requests in flight to be answered
// (until ctx is done, then closes their connections) and for the serving
// goroutine to end. It is a no-op if Listen was never called.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.served
	return err
}

// withJob resolves the {id} path value to a served job.
func (s *Server) withJob(h func(http.ResponseWriter, *http.Request, string, *served)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		sj := s.mu.jobs[id]
		s.mu.Unlock()
		if sj == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("job %s not found", id))
			return
		}
		h(w, r, id, sj)
	}
}

func (s *Server) listJobs(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := struct {
		Jobs []JobSummary `json:"jobs"`
	}{Jobs: make([]JobSummary, 0, len(s.mu.order))}
	for _, id := range s.mu.order {
		sj := s.mu.jobs[id]
		out.Jobs = append(out.Jobs, JobSummary{ID: id, Name: sj.info.Name, State: sj.state})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) details(id string, sj *served) JobDetails {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := JobDetails{ID: id, Name: sj.info.Name, State: sj.state, StartTime: sj.info.Started.UnixMilli(), PID: s.opts.PID,
		Parallelism: sj.info.Parallelism, RestoredFrom: sj.info.RestoredFrom, Failure: sj.failure}
	if d.RestoredFrom != "" {
		d.RestoreMode = sj.info.RestoreMode
	}
	if !sj.ended.IsZero() {
		d.EndTime = sj.ended.UnixMilli()
	}
	d.LatestCheckpoint = sj.job.LatestCheckpoint()
	return d
}

func (s *Server) jobDetails(w http.ResponseWriter, _ *http.Request, id string, sj *served) {
	writeJSON(w, http.StatusOK, s.details(id, sj))
}

// running reports whether the job can take a request, and answers 409 if
// not.
func (s *Server) running(w http.ResponseWriter, id string, sj *served) bool {
	s.mu.Lock()
	st := sj.state
	s.mu.Unlock()
	if st == Running {
		return true
	}
	writeError(w, http.StatusConflict, fmt.Sprintf("job %s is %s, not RUNNING", id, st))
	return false
}

// patchJob is Flink's PATCH /jobs/{id}?mode=cancel.
func (s *Server) patchJob(w http.ResponseWriter, r *http.Request, id string, sj *served) {
	if m := r.URL.Query().Get("mode"); m != "cancel" && m != "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown mode %q (only cancel is supported)", m))
		return
	}
	s.cancel(w, r, id, sj)
}

// cancel cancels the job and answers when it has ended (or the request is
// abandoned), with the job's details.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, id string, sj *served) {
	if !s.running(w, id, sj) {
		return
	}
	s.setState(sj, Running, Cancelling)
	s.opts.Logger.Info("control: cancelling job", "job", id)
	sj.job.Cancel()
	done := make(chan error, 1)
	go func() { done <- sj.job.Wait() }() // returns soon: the job was cancelled
	select {
	case err := <-done:
		s.JobEnded(id, err)
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, s.details(id, sj))
}

func (s *Server) setState(sj *served, from, to State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sj.state == from {
		sj.state = to
	}
}

func (s *Server) savepoint(w http.ResponseWriter, r *http.Request, id string, sj *served) {
	var req SavepointRequest
	if !readJSON(w, r, &req) || !s.running(w, id, sj) {
		return
	}
	s.opts.Logger.Info("control: savepoint requested", "job", id, "dir", req.TargetDirectory, "cancel", req.CancelJob)
	var path string
	var err error
	if req.CancelJob {
		s.setState(sj, Running, Cancelling)
		path, err = sj.job.CancelWithSavepoint(r.Context(), req.TargetDirectory)
		if err != nil {
			s.setState(sj, Cancelling, Running)
		} else {
			s.JobEnded(id, sj.job.Wait()) // it has ended: Wait returns at once
		}
	} else {
		path, err = sj.job.TriggerSavepoint(r.Context(), req.TargetDirectory)
	}
	s.snapshotReply(w, id, "savepoint", path, err)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request, id string, sj *served) {
	var req StopRequest
	if !readJSON(w, r, &req) || !s.running(w, id, sj) {
		return
	}
	s.opts.Logger.Info("control: stop with savepoint requested", "job", id, "dir", req.TargetDirectory, "drain", req.Drain)
	path, err := sj.job.StopWithSavepoint(r.Context(), req.TargetDirectory, req.Drain)
	if path != "" {
		s.JobEnded(id, sj.job.Wait()) // it has ended: Wait returns at once
	}
	if err != nil && path != "" {
		// The savepoint exists, but the job failed while stopping.
		s.opts.Logger.Warn("control: job failed after its stop savepoint", "job", id, "savepoint", path, "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("the savepoint %s completed but the job failed while stopping: %v", path, err))
		return
	}
	s.snapshotReply(w, id, "stop with savepoint", path, err)
}

func (s *Server) checkpoints(w http.ResponseWriter, _ *http.Request, _ string, sj *served) {
	var st CheckpointStats
	if p := sj.job.LatestCheckpoint(); p != "" {
		st.Latest.Completed = &CompletedCheckpoint{ExternalPath: p}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) triggerCheckpoint(w http.ResponseWriter, r *http.Request, id string, sj *served) {
	if !s.running(w, id, sj) {
		return
	}
	path, err := sj.job.TriggerCheckpoint(r.Context())
	s.snapshotReply(w, id, "checkpoint", path, err)
}

func (s *Server) snapshotReply(w http.ResponseWriter, id, what, path string, err error) {
	if err != nil {
		s.opts.Logger.Warn("control: "+what+" failed", "job", id, "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, SnapshotResponse{Location: path})
}

// readJSON decodes an optional JSON body into v, answering 400 on error.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return false
	}
	if len(body) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Errors: []string{msg}})
}
