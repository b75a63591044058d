package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ShutdownGrace is how long [Serve] gives the requests still under way once the hubs
// have closed (none of the hubs' own: their connections have ended by then), before
// it closes their connections; and how long, beyond a hub's DrainTimeout and the
// wait for its long-polling clients, it lets [Hub.Close] take.
const ShutdownGrace = 5 * time.Second

// Serve listens on srv.Addr (":http" when empty), as srv.ListenAndServe does, and
// serves with [ServeListener]. For TLS, wrap the listener with [tls.NewListener] and
// call ServeListener.
func Serve(ctx context.Context, srv *http.Server, hubs ...*Hub) error {
	addr := srv.Addr
	if addr == "" {
		addr = ":http"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		closeHubs(hubs)
		return fmt.Errorf("hub: serve: %w", err)
	}
	return ServeListener(ctx, srv, ln, hubs...)
}

// ServeListener serves srv on ln until ctx ends, then shuts the hubs and the server
// down in the order they need, which [http.Server.Shutdown] alone does not do: the
// hubs' WebSockets, SSE streams and waiting long polls are taken over from
// net/http, so Shutdown neither waits for nor closes them.
//
//  1. It closes every hub at once ([Hub.Close]: the drain, up to each hub's
//     DrainTimeout, then a Close message to every client) while the server still
//     serves, as SSE and long-polling clients send requests meanwhile and a
//     long-polling client takes its Close message with its next poll.
//  2. Then it calls srv.Shutdown, and past [ShutdownGrace] closes the connections
//     whose requests have not finished (a client trickling a request body must not
//     hold the exit up).
//
// It returns nil after such a shutdown, or an error joining the hubs' Close errors.
// When the server stops first (an error from srv.Serve, or Shutdown or Close called
// elsewhere: [http.ErrServerClosed]) it still closes the hubs and returns that error.
// Either way the hubs are closed when it returns. A second signal that should end
// the process at once is the caller's to handle (signal.NotifyContext's stop).
func ServeListener(ctx context.Context, srv *http.Server, ln net.Listener, hubs ...*Hub) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		closeHubs(hubs)
		return fmt.Errorf("hub: serve: %w", err)
	case <-ctx.Done():
	}
	log := shutdownLogger(hubs)
	log.Info("hub: shutting down: draining the hubs", "hubs", len(hubs))
	failed := closeHubs(hubs)
	httpCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(httpCtx); errors.Is(err, context.DeadlineExceeded) {
		log.Warn("hub: shutdown: closing connections whose requests did not finish in time", "grace", ShutdownGrace)
		srv.Close()
	} else if err != nil {
		failed = append(failed, fmt.Errorf("http shutdown: %w", err))
	}
	<-served // http.ErrServerClosed
	if len(failed) > 0 {
		return fmt.Errorf("hub: shutdown: %w", errors.Join(failed...))
	}
	log.Info("hub: shut down cleanly")
	return nil
}

// closeHubs closes every hub at once, each bounded by its own drain and
// long-polling waits plus ShutdownGrace, and returns their errors.
func closeHubs(hubs []*Hub) []error {
	errs := make(chan error, len(hubs))
	for _, h := range hubs {
		go func() {
			bound := max(h.opts.DrainTimeout, 0) + min(h.opts.TransportOptions.PollTimeout, closeTakeWait) + ShutdownGrace
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			err := h.Close(ctx)
			if err != nil {
				h.opts.Logger.Warn("hub: shutdown", "hub", h.opts.Name, "err", err)
				err = fmt.Errorf("closing hub %s: %w", h.opts.Name, err)
			}
			errs <- err
		}()
	}
	var failed []error
	for range hubs {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// shutdownLogger is the first hub's logger, for what concerns the server as a whole.
func shutdownLogger(hubs []*Hub) *slog.Logger {
	if len(hubs) > 0 {
		return hubs[0].opts.Logger
	}
	return slog.Default()
}
