//go:build !unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

func detachedAttr() *syscall.SysProcAttr { return nil }

func forwardSignals(*os.Process) (stop func()) { return func() {} }

func signalOf(*exec.ExitError) (int, bool) { return 0, false }
