package main

import "testing"

func TestStory(t *testing.T) {
	if err := run([]string{"-orders", "8000", "-rate", "40000", "-stop-after", "60ms", "-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
}
