package ginhub_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEGinQuickStartIsTheExample: the README's Gin quick start is
// Example_quickStart's code (which compiles and runs) in a main: from the tokens
// map on, its lines appear in example_test.go in the same order, except the two
// lines that make it a program.
func TestREADMEGinQuickStartIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	start := strings.Index(s, "## Quick start: Gin")
	if start < 0 {
		t.Fatal("README has no Gin quick start")
	}
	block := s[start:]
	block = block[strings.Index(block, "```go\n")+len("```go\n"):]
	block = block[:strings.Index(block, "```")]
	block = block[strings.Index(block, "// tokens"):]
	rest := string(example)
	for _, line := range strings.Split(block, "\n") {
		switch strings.TrimSpace(line) {
		case "", "func main() {":
			continue
		}
		i := strings.Index(rest, line+"\n")
		if i < 0 {
			t.Fatalf("README's Gin quick start line %q is not in example_test.go (in order)", line)
		}
		rest = rest[i+len(line):]
	}
}
