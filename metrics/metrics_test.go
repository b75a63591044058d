package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/metrics"
	"github.com/hubbub-go/hubbub/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMetricsFollowAConnection checks the series a dashboard relies on, over a real
// connection: negotiation, an open connection, an invocation, messages both ways,
// and the connection gauge back to zero after it ends.
func TestMetricsFollowAConnection(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	h := conformance.NewHub(hub.Options{Observer: m})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()

	resp, err := http.Post(srv.URL+"/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct{ ConnectionToken string }
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("{\"protocol\":\"json\",\"version\":1}\x1e"))
	read()
	ws.WriteMessage(websocket.TextMessage, []byte("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Fail\",\"arguments\":[\"x\"]}\x1e"))
	read()

	for name, want := range map[string]float64{
		`hubbub_negotiations_total{hub="conformance"}`:                          1,
		`hubbub_connections{hub="conformance",transport="WebSockets"}`:          1,
		`hubbub_invocation_errors_total{hub="conformance",method="Fail"}`:       1,
		`hubbub_units_received_total{hub="conformance",transport="WebSockets"}`: 2,
		`hubbub_messages_sent_total{hub="conformance",transport="WebSockets"}`:  2,
	} {
		if got := value(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for value(t, reg, `hubbub_connections{hub="conformance",transport="WebSockets"}`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection gauge did not return to 0 after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value reads one series from the registry in the text format.
func value(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	name, _, _ := strings.Cut(series, "{")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := make([]string, 0, len(metric.GetLabel()))
			for _, l := range metric.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if name+"{"+strings.Join(labels, ",")+"}" != series {
				continue
			}
			switch {
			case metric.Gauge != nil:
				return metric.GetGauge().GetValue()
			case metric.Counter != nil:
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestOversizedInputIsCounted: a POST body and a WebSocket message over the size
// limit are refused (413, close 1009) and show up in the refusal and close series.
func TestOversizedInputIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := conformance.NewHub(hub.Options{Observer: metrics.New(reg), TransportOptions: transports.Options{MaxReceiveSize: 64, MaxTransportMessageSize: 64}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	negotiate := func() string {
		resp, err := http.Post(srv.URL+"/negotiate?negotiateVersion=1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var n struct{ ConnectionToken string }
		json.NewDecoder(resp.Body).Decode(&n)
		return n.ConnectionToken
	}
	big := strings.Repeat("x", 100)

	lp := srv.URL + "/?id=" + negotiate()
	first, err := http.Get(lp) // opens the long-polling transport
	if err != nil {
		t.Fatal(err)
	}
	first.Body.Close()
	post, err := http.Post(lp, "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST: %d, want 413", post.StatusCode)
	}
	if got := value(t, reg, `hubbub_refusals_total{hub="conformance",reason="message too large"}`); got != 1 {
		t.Errorf("refusals for the POST = %v, want 1", got)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?id="+negotiate(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(big))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversized WebSocket message: %v, want close 1009", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for value(t, reg, `hubbub_server_closes_total{hub="conformance",reason="too_large"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the oversized WebSocket message was not counted as a too_large close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOriginRefusalIsCounted: a request from an origin neither same nor allowed is
// counted under reason "origin".
func TestOriginRefusalIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := conformance.NewHub(hub.Options{Observer: metrics.New(reg), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/negotiate?negotiateVersion=1", nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin negotiate: %d, want 403", resp.StatusCode)
	}
	if got := value(t, reg, `hubbub_refusals_total{hub="conformance",reason="origin"}`); got != 1 {
		t.Errorf("origin refusals = %v, want 1", got)
	}
}

// TestFallbacksAreCounted: a client's fallback report, over a real connection,
// counts each transport it left under its stable reason, an unknown reason as
// "failed"; a second report of the connection counts nothing.
func TestFallbacksAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := conformance.NewHub(hub.Options{Observer: hub.Observers(metrics.New(reg))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	resp, err := http.Post(srv.URL+"/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct{ ConnectionToken string }
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(s string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s+"\x1e")); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"protocol":"json","version":1}`)
	report := `{"type":1,"target":"` + hub.FallbackTarget + `","arguments":[` +
		`{"WebSockets":"upgrade-refused","ServerSentEvents":"eaten by a grue"}]}`
	send(report)
	send(report)
	send(`{"type":1,"invocationId":"1","target":"Echo","arguments":[1]}`)
	// The handshake reply, then Echo's answer: the reports before it were taken.
	for want := `"invocationId":"1"`; ; {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), want) {
			break
		}
	}
	for name, want := range map[string]float64{
		`hubbub_transport_fallbacks_total{hub="conformance",reason="upgrade-refused",transport="WebSockets"}`:       1,
		`hubbub_transport_fallbacks_total{hub="conformance",reason="failed",transport="ServerSentEvents"}`:          1,
		`hubbub_transport_fallbacks_total{hub="conformance",reason="eaten by a grue",transport="ServerSentEvents"}`: 0,
	} {
		if got := value(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestTwoHubsOnOneRegistry: each hub given its own Metrics on one registry (as
// code that builds its hubs one by one does) counts into the same series, by hub,
// rather than panic on a duplicate registration.
func TestTwoHubsOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"chat", "game"} {
		h := conformance.NewHub(hub.Options{Name: name, Observer: metrics.New(reg)})
		srv := httptest.NewServer(h)
		defer srv.Close()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h.Close(ctx)
		}()
		resp, err := http.Post(srv.URL+"/negotiate?negotiateVersion=1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, series := range []string{`hubbub_negotiations_total{hub="chat"}`, `hubbub_negotiations_total{hub="game"}`} {
		if got := value(t, reg, series); got != 1 {
			t.Errorf("%s = %v, want 1", series, got)
		}
	}
}
