package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestGeneratedTypesUpToDate: the committed TypeScript of the server's hubs is
// what "go run ./cmd/hubbub gen ts" writes now. A hub method or a struct changed
// without regenerating fails here.
func TestGeneratedTypesUpToDate(t *testing.T) {
	files, err := generated()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", defaultGenDir)
	var want []string
	for _, f := range files {
		want = append(want, f.Name)
		committed, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%v: run go run ./cmd/hubbub gen ts", err)
			continue
		}
		if !bytes.Equal(committed, f.Data) {
			t.Errorf("%s is stale: run go run ./cmd/hubbub gen ts", f.Name)
		}
	}
	for _, name := range []string{"chat.d.ts", "news.d.ts", "conformance.d.ts", "chat.signalr.d.ts"} {
		if !slices.Contains(want, name) {
			t.Errorf("gen ts writes no %s (it writes %q)", name, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			t.Errorf("%s/%s is not generated any more: remove it", dir, e.Name())
		}
	}
}

// TestGenWrites: "hubbub gen ts -o DIR" writes the files, and a second run
// changes nothing.
func TestGenWrites(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := gen([]string{"ts", "-o", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "chat.d.ts")); err != nil {
		t.Fatalf("after gen ts: %v; output:\n%s", err, &out)
	}
	out.Reset()
	if err := gen([]string{"ts", "-o", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a second gen ts wrote again:\n%s", &out)
	}
	if err := gen([]string{"go"}, &out); err == nil {
		t.Error("gen go: no error")
	}
}
