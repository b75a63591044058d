package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMENetHTTPQuickStartBuilds builds the README's net/http quick start as
// the program it claims to be.
func TestREADMENetHTTPQuickStartBuilds(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "## Quick start: net/http\n")
	_, code, fenced := strings.Cut(section, "```go\n")
	code, _, closed := strings.Cut(code, "```")
	if !found || !fenced || !closed {
		t.Fatal("README has no Go block under \"## Quick start: net/http\"")
	}
	// Inside this module, so that the library resolves to the repository's.
	dir, err := os.MkdirTemp(".", "readme-quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "./"+dir).CombinedOutput(); err != nil {
		t.Fatalf("README's net/http quick start does not build: %v\n%s", err, out)
	}
}
