package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
)

// Client calls one control server.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the server at address (host:port, or a
// URL with scheme). hc nil means http.DefaultClient.
func NewClient(address string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := address
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: strings.TrimSuffix(base, "/"), hc: hc}
}

// APIError is an error answer of the server.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Messages are the server's error messages.
	Messages []string
}

// Error joins the messages.
func (e *APIError) Error() string {
	if len(e.Messages) == 0 {
		return fmt.Sprintf("control: HTTP %d", e.Status)
	}
	return strings.Join(e.Messages, "; ")
}

// Unwrap returns ErrUnknownJob for a 404.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrUnknownJob
	}
	return nil
}

// Unreachable reports whether err means the server refused the connection:
// nothing listens at its address any more.
func Unreachable(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// Jobs lists the server's jobs.
func (c *Client) Jobs(ctx context.Context) ([]JobSummary, error) {
	var out struct {
		Jobs []JobSummary `json:"jobs"`
	}
	err := c.do(ctx, http.MethodGet, "/jobs", nil, &out)
	return out.Jobs, err
}

// Job returns job id's details.
func (c *Client) Job(ctx context.Context, id string) (JobDetails, error) {
	var out JobDetails
	err := c.do(ctx, http.MethodGet, "/jobs/"+id, nil, &out)
	return out, err
}

// TriggerSavepoint takes a savepoint of job id into dir ("" = the job's
// configured directory), cancelling the job after it if cancelJob, and
// returns its path.
func (c *Client) TriggerSavepoint(ctx context.Context, id, dir string, cancelJob bool) (string, error) {
	var out SnapshotResponse
	err := c.do(ctx, http.MethodPost, "/jobs/"+id+"/savepoints", SavepointRequest{TargetDirectory: dir, CancelJob: cancelJob}, &out)
	return out.Location, err
}

// Stop stops job id with a savepoint into dir ("" = the job's configured
// directory) and returns the savepoint's path.
func (c *Client) Stop(ctx context.Context, id, dir string, drain bool) (string, error) {
	var out SnapshotResponse
	err := c.do(ctx, http.MethodPost, "/jobs/"+id+"/stop", StopRequest{TargetDirectory: dir, Drain: drain}, &out)
	return out.Location, err
}

// Cancel cancels job id and returns its details once it has ended.
func (c *Client) Cancel(ctx context.Context, id string) (JobDetails, error) {
	var out JobDetails
	err := c.do(ctx, http.MethodPost, "/jobs/"+id+"/cancel", nil, &out)
	return out, err
}

// Checkpoints returns job id's latest completed checkpoint.
func (c *Client) Checkpoints(ctx context.Context, id string) (CheckpointStats, error) {
	var out CheckpointStats
	err := c.do(ctx, http.MethodGet, "/jobs/"+id+"/checkpoints", nil, &out)
	return out, err
}

// TriggerCheckpoint takes a checkpoint of job id and returns its path.
func (c *Client) TriggerCheckpoint(ctx context.Context, id string) (string, error) {
	var out SnapshotResponse
	err := c.do(ctx, http.MethodPost, "/jobs/"+id+"/checkpoints", nil, &out)
	return out.Location, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("control: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || len(eb.Errors) == 0 {
			msg := strings.TrimSpace(string(b))
			if msg == "" {
				msg = resp.Status
			}
			eb.Errors = []string{msg}
		}
		return &APIError{Status: resp.StatusCode, Messages: eb.Errors}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("control: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}
