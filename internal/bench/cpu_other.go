//go:build !unix

package bench

import "time"

// cpuTime is not measured on this platform: it returns 0, and figures per
// CPU-second are then not available.
func cpuTime() time.Duration { return 0 }
