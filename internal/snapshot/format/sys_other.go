//go:build !(linux && (amd64 || arm64))

package format

import "os"

// startWriteback does nothing on this platform; the final fsync writes
// everything.
func startWriteback(*os.File, int64, int64) {}

// syncData makes the file durable (fsync).
func syncData(f *os.File) error { return f.Sync() }

// dropCache does nothing on this platform.
func dropCache(*os.File, int64, int64) {}

// willNeed does nothing on this platform.
func willNeed(*os.File, int64, int64) {}

// mapFile reports that files are not mapped on this platform.
func mapFile(*os.File, int64, int64) (*mapping, error) { return nil, errNoMapping }
