//go:build unix

package control

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this ID exists (a process of
// another user counts).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
