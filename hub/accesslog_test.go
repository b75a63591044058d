package hub_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// logRecords returns the JSON log records (slog.NewJSONHandler) written to logs so
// far whose message is msg.
func logRecords(t *testing.T, logs *logBuffer, msg string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			found = append(found, rec)
		}
	}
	return found
}

// accessLogHold is how long each connection of TestAccessLog stays open: the
// line's duration must be at least this, however long the HTTP requests were.
const accessLogHold = 300 * time.Millisecond

// TestAccessLog: a connection over each transport, held for accessLogHold while it
// makes three invocations, then closed by the client, by the server (Conn.Close)
// or by the hub (Hub.Close), is logged once when it ends: its transport, protocol,
// user, client address (from X-Forwarded-For: the loopback proxy is trusted), its
// whole life's duration, the messages and bytes each way (the bytes as the client
// counted them) and why it ended. With DisableAccessLog nothing is logged.
func TestAccessLog(t *testing.T) {
	const invocations = 3
	tests := []struct {
		name     string
		kind     transports.Kind
		proto    protocol.Protocol
		user     string
		close    string // "client", "conn" (Conn.Close) or "hub" (Hub.Close)
		disabled bool
		reason   string
	}{
		{"WebSockets closed by the client", transports.WebSockets, protocol.JSON, "ada", "client", false, "client closed"},
		{"ServerSentEvents closed by the client", transports.ServerSentEvents, protocol.JSON, "ada", "client", false, "client closed"},
		{"LongPolling closed by the client", transports.LongPolling, protocol.MessagePack, "", "client", false, "client closed"},
		{"WebSockets closed by the server", transports.WebSockets, protocol.MessagePack, "", "conn", false, "server closed"},
		{"ServerSentEvents closed by the server", transports.ServerSentEvents, protocol.JSON, "bob", "conn", false, "server closed"},
		{"LongPolling closed by the server", transports.LongPolling, protocol.JSON, "bob", "conn", false, "server closed"},
		{"WebSockets closed by Hub.Close", transports.WebSockets, protocol.JSON, "eve", "hub", false, "hub closed"},
		{"ServerSentEvents closed by Hub.Close", transports.ServerSentEvents, protocol.JSON, "eve", "hub", false, "hub closed"},
		{"LongPolling closed by Hub.Close", transports.LongPolling, protocol.JSON, "", "hub", false, "hub closed"},
		{"DisableAccessLog", transports.WebSockets, protocol.JSON, "ada", "client", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			h := hub.New(hub.Options{
				Name:             "chat",
				Logger:           slog.New(slog.NewJSONHandler(logs, nil)),
				DisableAccessLog: tc.disabled,
				TrustedProxies:   []string{"127.0.0.1"},
				UserID:           func(r *http.Request) string { return r.Header.Get("X-User") },
			})
			h.On("Echo", func(ctx *hub.Context, s string) string { return s })
			disconnected := make(chan struct{})
			h.OnDisconnected(func(*hub.Context, error) { close(disconnected) })
			mux := http.NewServeMux()
			mux.Handle("/hub", h)
			mux.Handle("/hub/", h)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), serveWait)
			defer cancel()
			defer h.Close(ctx)

			header := http.Header{"X-Forwarded-For": {"203.0.113.7"}}
			if tc.user != "" {
				header.Set("X-User", tc.user)
			}
			c, err := hubclient.Dial(ctx, srv.URL+"/hub", hubclient.Options{
				Transports: tc.kind, Protocol: tc.proto, Header: header,
				// No Acks: each side then sends exactly what the test says.
				DisableStatefulReconnect: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			opened := time.Now()
			for i := range invocations {
				var got string
				res, err := c.Invoke(ctx, "Echo", "hello")
				if err == nil {
					err = res.Decode(&got)
				}
				if err != nil || got != "hello" {
					t.Fatalf("invocation %d: %q, %v", i, got, err)
				}
			}
			time.Sleep(accessLogHold - time.Since(opened))
			wantIn, wantOut := invocations, invocations
			switch tc.close {
			case "client":
				c.Close()
				wantIn++ // its Close message
			case "conn":
				conn, ok := h.Conn(c.ConnectionID())
				if !ok {
					t.Fatal("the connection is not on the hub")
				}
				conn.Close("bye", false)
				wantOut++
			case "hub":
				if err := h.Close(ctx); err != nil {
					t.Fatal(err)
				}
				wantOut++
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the client's connection did not end")
			}
			select {
			case <-disconnected:
			case <-ctx.Done():
				t.Fatal("OnDisconnected did not run")
			}
			// The line is written before OnDisconnected runs.
			lines := logRecords(t, logs, "hub: connection")
			if tc.disabled {
				if len(lines) != 0 {
					t.Fatalf("DisableAccessLog: logged %v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d access log lines, want 1: %v", len(lines), lines)
			}
			line := lines[0]
			stats := c.Stats()
			want := map[string]any{
				"level":        "INFO",
				"hub":          "chat",
				"connection":   c.ConnectionID(),
				"transport":    tc.kind.String(),
				"protocol":     tc.proto.Name(),
				"remote":       "203.0.113.7",
				"user":         tc.user,
				"bytes_in":     float64(stats.BytesSent),
				"bytes_out":    float64(stats.BytesReceived),
				"messages_in":  float64(wantIn),
				"messages_out": float64(wantOut),
				"links":        float64(1),
				"reason":       tc.reason,
			}
			for key, value := range want {
				if line[key] != value {
					t.Errorf("%s = %v (%T), want %v; line %v", key, line[key], line[key], value, line)
				}
			}
			if d, _ := line["duration"].(float64); time.Duration(d) < accessLogHold {
				t.Errorf("duration = %v, want at least %v", time.Duration(d), accessLogHold)
			}
			if stats.BytesSent == 0 || stats.BytesReceived == 0 {
				t.Errorf("the client counted %d bytes sent, %d received: want some each way", stats.BytesSent, stats.BytesReceived)
			}
		})
	}
}

// TestAccessLogCountsLinks: a stateful connection whose link is cut and resumed,
// then cut for good, is logged once, when its reconnect window has passed, with
// both its links.
func TestAccessLogCountsLinks(t *testing.T) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run(kind.String(), func(t *testing.T) {
			logs := &logBuffer{}
			h, srv := statefulServer(t, hub.Options{ReconnectWindow: time.Second, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			ended := connectedAndEnded(h)
			c := dialStateful(t, srv, kind, 2)
			<-ended.connected
			c.invoke(t, "1", "Echo", "before")
			if r := c.take(t); r.Type != 3 || r.InvocationID != "1" {
				t.Fatalf("Echo: %+v", r)
			}
			c.link.cut()
			<-c.link.ended
			c.resume(t)
			c.link.cut()
			select {
			case <-ended.disconnected:
			case <-time.After(serveWait):
				t.Fatal("the connection outlived its reconnect window")
			}
			lines := logRecords(t, logs, "hub: connection")
			if len(lines) != 1 {
				t.Fatalf("%d access log lines, want 1: %v", len(lines), lines)
			}
			if line := lines[0]; line["links"] != float64(2) || line["reason"] != "reconnect window passed" ||
				line["transport"] != kind.String() || line["connection"] != c.id {
				t.Errorf("line %v, want links 2, reason %q, transport %v, connection %s", line, "reconnect window passed", kind, c.id)
			}
		})
	}
}
