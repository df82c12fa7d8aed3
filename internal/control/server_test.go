package control_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/control"
	"github.com/weirstream/weir/internal/control/controltest"
)

const (
	id1 = "0123456789abcdef0123456789abcdef"
	id2 = "fedcba9876543210fedcba9876543210"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts an httptest server of a control server with the given fake
// jobs.
func serve(t *testing.T, jobs ...*controltest.Job) (*control.Server, *control.Client) {
	t.Helper()
	srv := control.NewServer(control.Options{Logger: quiet(), PID: 4242,
		Now: func() time.Time { return time.UnixMilli(2_000_000) }})
	for i, j := range jobs {
		srv.Add(j, control.JobInfo{Name: []string{"alpha", "beta", "gamma"}[i], Started: time.UnixMilli(1_000_000), Parallelism: 2})
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, control.NewClient(hs.URL, hs.Client())
}

func TestListAndDetails(t *testing.T) {
	j1, j2 := controltest.NewJob(id1), controltest.NewJob(id2)
	srv, c := serve(t, j1, j2)
	ctx := context.Background()
	jobs, err := c.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []control.JobSummary{{ID: id1, Name: "alpha", State: control.Running}, {ID: id2, Name: "beta", State: control.Running}}
	if !slices.Equal(jobs, want) {
		t.Fatalf("Jobs = %+v, want %+v", jobs, want)
	}
	d, err := c.Job(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != id2 || d.Name != "beta" || d.State != control.Running || d.StartTime != 1_000_000 || d.PID != 4242 || d.Parallelism != 2 || d.EndTime != 0 {
		t.Fatalf("Job = %+v", d)
	}
	srv.JobEnded(id2, errors.New("boom"))
	srv.JobEnded(id2, nil) // only the first call counts
	d, err = c.Job(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != control.Failed || d.Failure != "boom" || d.EndTime != 2_000_000 {
		t.Fatalf("after failure: %+v", d)
	}
	if _, err := c.Job(ctx, "00000000000000000000000000000000"); !errors.Is(err, control.ErrUnknownJob) {
		t.Fatalf("unknown job: %v, want ErrUnknownJob", err)
	}
}

func TestSavepointStopCancel(t *testing.T) {
	ctx := context.Background()
	t.Run("savepoint", func(t *testing.T) {
		j := controltest.NewJob(id1)
		_, c := serve(t, j)
		p, err := c.TriggerSavepoint(ctx, id1, "/sp", false)
		if err != nil || p != "/sp/savepoint-fake-1" {
			t.Fatalf("TriggerSavepoint = %q, %v", p, err)
		}
		_, err = c.TriggerSavepoint(ctx, id1, "", false)
		if err == nil || !strings.Contains(err.Error(), "no savepoint directory") {
			t.Fatalf("savepoint without a directory: %v", err)
		}
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError {
			t.Fatalf("error %v is not a 500 APIError", err)
		}
		if d, _ := c.Job(ctx, id1); d.State != control.Running {
			t.Fatalf("state after savepoints: %s", d.State)
		}
	})
	t.Run("stop", func(t *testing.T) {
		j := controltest.NewJob(id1)
		_, c := serve(t, j)
		p, err := c.Stop(ctx, id1, "/sp", true)
		if err != nil || p != "/sp/savepoint-fake-1" {
			t.Fatalf("Stop = %q, %v", p, err)
		}
		if d, _ := c.Job(ctx, id1); d.State != control.Finished {
			t.Fatalf("state after stop: %s", d.State)
		}
		_, err = c.Stop(ctx, id1, "/sp", false)
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(err.Error(), "FINISHED") {
			t.Fatalf("second stop: %v, want 409 naming the state", err)
		}
		if got, want := j.Requests(), []string{"stop /sp drain=true"}; !slices.Equal(got, want) {
			t.Fatalf("requests %q, want %q", got, want)
		}
	})
	t.Run("cancel with savepoint", func(t *testing.T) {
		j := controltest.NewJob(id1)
		_, c := serve(t, j)
		p, err := c.TriggerSavepoint(ctx, id1, "/sp", true)
		if err != nil || p != "/sp/savepoint-fake-1" {
			t.Fatalf("TriggerSavepoint(cancel) = %q, %v", p, err)
		}
		if d, _ := c.Job(ctx, id1); d.State != control.Canceled {
			t.Fatalf("state: %s, want CANCELED", d.State)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		j := controltest.NewJob(id1)
		_, c := serve(t, j)
		d, err := c.Cancel(ctx, id1)
		if err != nil || d.State != control.Canceled {
			t.Fatalf("Cancel = %+v, %v", d, err)
		}
		if _, err := c.Cancel(ctx, id1); err == nil {
			t.Fatal("second cancel succeeded")
		}
	})
	t.Run("PATCH mode=cancel", func(t *testing.T) {
		j := controltest.NewJob(id1)
		_, c := serve(t, j)
		status, body := raw(t, c, http.MethodPatch, "/jobs/"+id1+"?mode=cancel", "")
		if status != http.StatusOK || !strings.Contains(body, `"CANCELED"`) {
			t.Fatalf("PATCH: %d %s", status, body)
		}
	})
}

func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	j := controltest.NewJob(id1)
	_, c := serve(t, j)
	st, err := c.Checkpoints(ctx, id1)
	if err != nil || st.Latest.Completed != nil {
		t.Fatalf("Checkpoints before any = %+v, %v", st, err)
	}
	p, err := c.TriggerCheckpoint(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	st, err = c.Checkpoints(ctx, id1)
	if err != nil || st.Latest.Completed == nil || st.Latest.Completed.ExternalPath != p {
		t.Fatalf("Checkpoints = %+v, %v; want latest %s", st, err, p)
	}
	if d, _ := c.Job(ctx, id1); d.LatestCheckpoint != p {
		t.Fatalf("details latest checkpoint %q, want %q", d.LatestCheckpoint, p)
	}
}

// raw sends a request and returns the status and body; hdr are header
// name-value pairs.
func raw(t *testing.T, c *control.Client, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	base := control.ClientBase(c)
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadRequests(t *testing.T) {
	j := controltest.NewJob(id1)
	_, c := serve(t, j)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/jobs/" + id1 + "/savepoints", `{"target-directory": 3}`, 400, "bad request body"},
		{"POST", "/jobs/" + id1 + "/savepoints", `{"target-dir": "/x"}`, 400, "unknown field"},
		{"POST", "/jobs/" + id1 + "/stop", `not json`, 400, "bad request body"},
		{"PATCH", "/jobs/" + id1 + "?mode=stop", ``, 400, "unknown mode"},
		{"GET", "/nothing", ``, 404, "not found"},
		{"POST", "/jobs/" + id2 + "/stop", `{}`, 404, "not found"},
		{"DELETE", "/jobs/" + id1, ``, 405, ""},
	} {
		status, body := raw(t, c, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s, want %d containing %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.want)
		}
	}
	if len(j.Requests()) != 0 {
		t.Errorf("bad requests reached the job: %q", j.Requests())
	}
}

// TestRefusesBrowsers: a web page must not be able to drive a local job.
func TestRefusesBrowsers(t *testing.T) {
	j := controltest.NewJob(id1)
	_, c := serve(t, j)
	cancel := "/jobs/" + id1 + "/cancel"
	for _, hdr := range [][]string{
		{"Origin", "http://evil.example"},
		{"Host", "evil.example:80"},
		{"Host", "evil.example"},
	} {
		status, body := raw(t, c, "POST", cancel, "", hdr...)
		if status != http.StatusForbidden {
			t.Errorf("%q: %d %s, want 403", hdr, status, body)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1:1234", "[::1]:80"} {
		if status, body := raw(t, c, "GET", "/jobs", "", "Host", host); status != http.StatusOK {
			t.Errorf("Host %s: %d %s, want 200", host, status, body)
		}
	}
	if len(j.Requests()) != 0 {
		t.Errorf("refused requests reached the job: %q", j.Requests())
	}
}

// TestListenShutdown serves on a real port and checks that Shutdown
// lets a request in flight finish and that the port is closed afterwards.
func TestListenShutdown(t *testing.T) {
	j := controltest.NewJob(id1)
	srv := control.NewServer(control.Options{Logger: quiet()})
	srv.Add(j, control.JobInfo{Name: "alpha", Started: time.Now()})
	addr, err := srv.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Listen bound %q, want 127.0.0.1:<port>", addr)
	}
	c := control.NewClient(addr, nil)
	if _, err := c.Jobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = c.Jobs(context.Background())
	if !control.Unreachable(err) {
		t.Fatalf("after Shutdown: %v, want connection refused", err)
	}
	if _, err := control.NewServer(control.Options{}).Listen("256.0.0.1:1"); err == nil {
		t.Fatal("Listen on a bad address succeeded")
	}
}
