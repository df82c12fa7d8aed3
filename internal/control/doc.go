// Package control is the control plane of embedded weir jobs: a small HTTP
// JSON API that a running job serves on 127.0.0.1, a client for it, and the
// registry through which the weir command finds a job by its ID.
//
// A job process (weir.JobFlags.Run) starts a [Server], adds its job to it
// ([Server.Add]), listens ([Server.Listen]) and writes an [Entry] into the
// [Registry] (<home>/jobs/<job id>.json, written atomically). The weir
// command reads the registry, ignores and removes entries whose process has
// died or whose address refuses connections, and talks to the job through a
// [Client].
//
// The API, in the spirit of Flink's REST API (JSON in and out; errors are
// {"errors": ["..."]} with a 4xx or 5xx status):
//
//	GET   /jobs                        {"jobs": [{"id", "name", "state"}]}
//	GET   /jobs/{id}                   JobDetails
//	POST  /jobs/{id}/savepoints        {"target-directory", "cancel-job"} -> {"location"}
//	POST  /jobs/{id}/stop              {"targetDirectory", "drain"}       -> {"location"}
//	POST  /jobs/{id}/cancel            -> JobDetails (also PATCH /jobs/{id}?mode=cancel)
//	GET   /jobs/{id}/checkpoints       {"latest": {"completed": {"external_path"}}}
//	POST  /jobs/{id}/checkpoints       -> {"location"}
//
// Unlike Flink's, savepoint, stop and checkpoint requests are synchronous:
// the response comes when the snapshot is complete. A stop's response is
// written before the job process exits, because the process shuts its
// server down gracefully.
//
// The API has no authentication; it refuses requests a web page could
// send (an Origin header; on a loopback address, a Host other than an IP
// address or localhost).
//
// The package does not import the root package (which imports it): the
// server drives any [Job], an interface *weir.JobClient implements.
package control
