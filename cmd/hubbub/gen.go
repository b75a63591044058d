package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/internal/demo"
	"github.com/hubbub-go/hubbub/tsgen"
)

// genCommand is how the generated files say they were made.
const genCommand = `"go run ./cmd/hubbub gen ts"`

// genUsage is the synopsis of "gen".
const genUsage = "usage: hubbub gen ts [-o DIR]"

// defaultGenDir is where "gen ts" writes, from the repository's root.
const defaultGenDir = "internal/demo/types"

// gen runs "hubbub gen ts [-o DIR]": TypeScript declarations and typed
// connections (package tsgen) for each hub this server serves, from their
// hub.Describe, without serving anything.
func gen(args []string, stdout io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(os.Stderr, genUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "ts" {
		return errors.New(genUsage + `: only "ts" (TypeScript) is known`)
	}
	fs := flag.NewFlagSet("hubbub gen ts", flag.ContinueOnError)
	dir := fs.String("o", defaultGenDir, "directory to write the .d.ts files to")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", genUsage, fs.Arg(0))
	}
	if *dir == "" {
		return fmt.Errorf("gen ts: -o: want a directory, got \"\"")
	}
	given := false
	fs.Visit(func(*flag.Flag) { given = true })
	if root := filepath.Dir(defaultGenDir); !given {
		// The default is relative to the repository's root: elsewhere it
		// would make a stray tree.
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return fmt.Errorf("gen ts: no %s here: run it from the repository's root, or give -o DIR", root)
		}
	}
	files, err := generated()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("gen ts: %w", err)
	}
	return writeAll(*dir, files, stdout)
}

// writeAll writes the files that changed into dir, all or none: each goes to a
// temporary file first, and only when all are written are they renamed into
// place.
func writeAll(dir string, files []tsgen.File, stdout io.Writer) (err error) {
	type staged struct{ tmp, path string }
	var todo []staged
	defer func() {
		if err != nil {
			for _, s := range todo {
				os.Remove(s.tmp)
			}
		}
	}()
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("gen ts: %s is not a regular file", path)
		}
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return fmt.Errorf("gen ts: %w", err)
		}
		todo = append(todo, staged{tmp.Name(), path})
		_, err = tmp.Write(f.Data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644) // CreateTemp makes it 0600
		}
		if err != nil {
			return fmt.Errorf("gen ts: writing %s: %w", path, err)
		}
	}
	for i, s := range todo {
		if err := os.Rename(s.tmp, s.path); err != nil {
			todo = todo[i:] // those renamed are in place: keep them
			return fmt.Errorf("gen ts: %w", err)
		}
		fmt.Fprintln(stdout, "wrote", s.path)
	}
	return nil
}

// generated are the files "gen ts" writes, for each hub of the server.
func generated() ([]tsgen.File, error) {
	descs, err := describeHubs()
	if err != nil {
		return nil, err
	}
	var files []tsgen.File
	for _, d := range descs {
		fs, err := tsgen.Generate(d, tsgen.Options{Command: genCommand})
		if err != nil {
			return nil, fmt.Errorf("gen ts: %w", err)
		}
		files = append(files, fs...)
	}
	return files, nil
}

// describeHubs builds the hubs run serves, as run builds them (the secure hub is
// the conformance hub again), describes them and closes them: nothing is served
// and no publisher runs.
func describeHubs() ([]hub.Description, error) {
	quiet := func(name string) hub.Options {
		return hub.Options{Name: name, Logger: slog.New(slog.DiscardHandler)}
	}
	app, err := demo.New(demo.Options{Hub: quiet})
	if err != nil {
		return nil, err
	}
	hubs := []*hub.Hub{conformance.NewHub(quiet("conformance"))}
	for _, m := range app.Hubs() {
		hubs = append(hubs, m.Hub)
	}
	var descs []hub.Description
	for _, h := range hubs {
		descs = append(descs, h.Describe())
		if err := h.Close(context.Background()); err != nil {
			return nil, fmt.Errorf("gen ts: closing hub %s: %w", h.Name(), err)
		}
	}
	return descs, nil
}
