package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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

// TestGenArguments: "gen" refuses what it does not take, writing nothing, and
// -h prints its usage and exits 0.
func TestGenArguments(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"ts", "extra"}, `unexpected argument "extra"`},
		{[]string{"ts", "-o", "DIR", "extra"}, `unexpected argument "extra"`},
		{[]string{"ts", "-o", ""}, "-o: want a directory"},
		{[]string{}, "usage: hubbub gen ts"},
		{[]string{"go"}, "usage: hubbub gen ts"},
	} {
		dir := t.TempDir()
		for i, a := range tc.args {
			if a == "DIR" {
				tc.args[i] = dir
			}
		}
		t.Chdir(dir) // the default -o is relative
		var out bytes.Buffer
		err := gen(tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("gen %q: %v; want an error containing %q", tc.args, err, tc.wantErr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("gen %q left %d entries in %s", tc.args, len(entries), dir)
		}
	}
	for _, args := range [][]string{{"gen", "ts", "-h"}, {"gen", "--help"}} {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("hubbub %q: %v; want exit 0; output:\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "-o") {
			t.Errorf("hubbub %q: no usage:\n%s", args, out)
		}
	}
}

// TestGenNoPartialOutput: when one file cannot be written, none is: the
// directory holds the old set or the new one, never a mix.
func TestGenNoPartialOutput(t *testing.T) {
	dir := t.TempDir()
	// A directory where the last file goes: it cannot be written.
	files, err := generated()
	if err != nil {
		t.Fatal(err)
	}
	last := files[len(files)-1].Name
	if err := os.Mkdir(filepath.Join(dir, last), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = gen([]string{"ts", "-o", dir}, &out)
	if err == nil || !strings.Contains(err.Error(), last) {
		t.Errorf("gen ts over a directory named %s: %v; want an error naming it", last, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("gen ts failed but left %q (output %q)", names, &out)
	}
}

// TestGenDefaultDirOutsideRepo: without -o, "gen ts" run outside the
// repository's root says so and creates nothing (the default directory is
// relative to the root).
func TestGenDefaultDirOutsideRepo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out bytes.Buffer
	err := gen([]string{"ts"}, &out)
	if err == nil || !strings.Contains(err.Error(), "-o") {
		t.Errorf("gen ts outside the repository: %v; want an error suggesting -o", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("gen ts outside the repository created %d entries", len(entries))
	}
}
