// Command linkcut runs a link-cutting test proxy (package linkcut) in front of a
// server, for tests written in other languages (the Node and Chromium tests).
//
//	linkcut -target http://127.0.0.1:5000 -every 2s -kinds reset,504
//
// When it is ready it prints exactly one line on stdout:
//
//	LISTEN http://127.0.0.1:PORT
//
// Clients connect to that URL instead of the target's. The same port serves the
// control API under /__linkcut/:
//
//	POST /__linkcut/cut?kind=reset   → {"cut": n}   (kinds: reset, blackhole, 504, midresponse)
//	GET  /__linkcut/stats            → {"cuts": {...}, "requests": n, "live": n, "paused": false}
//	POST /__linkcut/pause            → stats        (stops random cuts)
//	POST /__linkcut/resume           → stats
//
// It exits on SIGTERM or SIGINT, and when its stdin reaches end of file, so that a
// parent process that dies takes it down (spawn it with a stdin pipe; pass
// -stdin=false to run it from a shell in the background). It listens on loopback
// only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/hubbub-go/hubbub/internal/linkcut"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "linkcut:", err)
		os.Exit(2)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("linkcut", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts linkcut.Options
	fs.StringVar(&opts.Target, "target", "", "base URL of the server to forward to (required), e.g. http://127.0.0.1:5000")
	fs.StringVar(&opts.Listen, "listen", linkcut.DefaultListen, "loopback address to listen on")
	fs.DurationVar(&opts.Every, "every", 0, "mean interval between random cuts (0: only on demand through the control API)")
	kinds := fs.String("kinds", "reset,blackhole,504,midresponse", "kinds of random cuts, comma-separated")
	fs.DurationVar(&opts.BlackHoleFor, "blackhole", linkcut.DefaultBlackHoleFor, "how long a black hole holds links before resetting them")
	fs.DurationVar(&opts.HoldLimit, "hold", 0, "answer 504 to a request whose response has not started after this long (0: never)")
	fs.Uint64Var(&opts.Seed, "seed", 0, "seed of the random choices")
	fs.BoolVar(&opts.RewriteHost, "rewrite-host", false, "forward with the target's Host and X-Forwarded-*/Forwarded headers")
	watchStdin := fs.Bool("stdin", true, "exit when stdin reaches end of file")
	verbose := fs.Bool("v", false, "log cuts and proxy errors on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if opts.Kinds, err = linkcut.ParseKinds(*kinds); err != nil {
		return err
	}
	if *verbose {
		opts.Logf = log.New(stderr, "", log.Ltime|log.Lmicroseconds).Printf
	}
	opts.ControlAPI = true

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	p, err := linkcut.New(opts)
	if err != nil {
		return err
	}
	defer p.Close()
	if *watchStdin {
		go func() {
			io.Copy(io.Discard, stdin)
			stop()
		}()
	}
	fmt.Fprintf(stdout, "LISTEN %s\n", p.URL())
	<-ctx.Done()
	return p.Close()
}
