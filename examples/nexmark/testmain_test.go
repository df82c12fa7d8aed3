package main

import (
	"os"
	"testing"
)

// TestMain keeps the job registry of runs made by the tests out of the
// user's home directory.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "weir-home-")
	if err != nil {
		panic(err)
	}
	os.Setenv("WEIR_HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
