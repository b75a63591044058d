package client_test

// Small fake servers for wire-level tests: each speaks just enough of negotiate
// and one transport for a test to script the server side exactly.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

const rs = "\x1e"

// fake routes the requests of a SignalR client to the test's functions. A nil
// function answers 404.
type fake struct {
	URL string // the hub URL: {server}/hub

	negotiate func(w http.ResponseWriter, r *http.Request)
	ws        func(conn *websocket.Conn, r *http.Request)
	sse       func(w http.ResponseWriter, r *http.Request)
	poll      func(w http.ResponseWriter, r *http.Request)
	post      func(w http.ResponseWriter, r *http.Request)
	del       func(w http.ResponseWriter, r *http.Request)
	// serve2, when not nil, sees every request first; it returns true when it
	// answered.
	serve2 func(w http.ResponseWriter, r *http.Request) bool

	mu   sync.Mutex
	log  []string // "METHOD path?query" of every request
	wsWG sync.WaitGroup
}

// newFake starts a fake server; configure its functions before the client dials.
func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = srv.URL + "/hub"
	t.Cleanup(func() {
		// WebSocket handlers are hijacked: srv.Close does not wait for them.
		done := make(chan struct{})
		go func() { f.wsWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("a fake WebSocket handler is still running")
		}
		srv.Close()
	})
	return f
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	if f.serve2 != nil && f.serve2(w, r) {
		return
	}
	var h func(http.ResponseWriter, *http.Request)
	switch {
	case strings.HasSuffix(r.URL.Path, "/negotiate"):
		h = f.negotiate
	case websocket.IsWebSocketUpgrade(r):
		if f.ws != nil {
			f.wsWG.Add(1)
			defer f.wsWG.Done()
			up := websocket.Upgrader{}
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			f.ws(conn, r)
			return
		}
	case r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		h = f.sse
	case r.Method == http.MethodGet:
		h = f.poll
	case r.Method == http.MethodPost:
		h = f.post
	case r.Method == http.MethodDelete:
		h = f.del
	}
	if h == nil {
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	h(w, r)
}

// negotiateV1 answers negotiate version 1 with one transport.
func negotiateV1(kind transports.Kind, id, token string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(transports.NegotiateResponse{
			ConnectionID: id, ConnectionToken: token, NegotiateVersion: 1,
			AvailableTransports: transports.Offer(kind),
		})
	}
}

// jsonBody answers with a fixed body and status.
func jsonBody(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// wsPeer is the server side of a fake WebSocket connection.
type wsPeer struct {
	t       *testing.T
	conn    *websocket.Conn
	pending []protocol.Message
}

// handshake reads the client's handshake request and answers reply (e.g. "{}"+rs).
func (p *wsPeer) handshake(reply string) error {
	_, data, err := p.conn.ReadMessage()
	if err != nil {
		return err
	}
	req, rest, err := protocol.ParseHandshakeRequest(data)
	if err != nil || req.Protocol != "json" || req.Version != 1 {
		p.t.Errorf("handshake request %q: %+v, %v", data, req, err)
	}
	if len(rest) > 0 {
		p.t.Errorf("data batched behind the handshake: %q", rest)
	}
	if reply != "" {
		return p.conn.WriteMessage(websocket.TextMessage, []byte(reply))
	}
	return nil
}

// next returns the next message from the client, pings skipped unless wanted.
func (p *wsPeer) next(pings bool) (protocol.Message, error) {
	for {
		for len(p.pending) > 0 {
			m := p.pending[0]
			p.pending = p.pending[1:]
			if m.Type != protocol.PingType || pings {
				return m, nil
			}
		}
		typ, data, err := p.conn.ReadMessage()
		if err != nil {
			return protocol.Message{}, err
		}
		if typ != websocket.TextMessage {
			p.t.Errorf("the client sent a frame of type %d, want text", typ)
		}
		msgs, err := protocol.JSON.ParseMessages(data, nil)
		if err != nil {
			p.t.Errorf("bad unit from the client %q: %v", data, err)
		}
		p.pending = append(p.pending, msgs...)
	}
}

func (p *wsPeer) send(records ...string) {
	if err := p.conn.WriteMessage(websocket.TextMessage, []byte(strings.Join(records, ""))); err != nil {
		p.t.Logf("fake: write: %v", err)
	}
}

// drain reads until the client goes away.
func (p *wsPeer) drain() {
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := p.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// wsFake is a fake serving negotiate and one WebSocket whose server side is script.
func wsFake(t *testing.T, script func(p *wsPeer)) *fake {
	f := newFake(t)
	f.negotiate = negotiateV1(transports.WebSockets, "cid", "tok")
	f.ws = func(conn *websocket.Conn, r *http.Request) {
		if r.URL.Query().Get("id") != "tok" {
			t.Errorf("WebSocket id = %q, want the token", r.URL.Query().Get("id"))
		}
		script(&wsPeer{t: t, conn: conn})
	}
	return f
}

// record returns the JSON encoding of a message.
func record(m protocol.Message) string {
	b, err := protocol.JSON.AppendMessage(nil, &m)
	if err != nil {
		panic(err)
	}
	return string(b)
}
