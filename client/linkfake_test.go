package client_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// linkFake is a fake server speaking one transport whose links the test cuts. The
// test scripts the server side through units: what the client sent (WebSocket
// messages, POST bodies) arrives on fromClient; what is put on toClient goes to the
// client (WebSocket messages, events, poll responses).
type linkFake struct {
	*fake
	t          *testing.T
	kind       transports.Kind
	toClient   chan string
	fromClient chan string
	opened     chan string   // the query of every new link (WebSocket, SSE GET, resume poll)
	polled     chan string   // long polling: the query of every poll, while it has room
	cutReq     chan struct{} // one cut, taken by the current (or next) link
	gone       atomic.Bool   // new links are answered 404
	status     atomic.Int32  // when not zero, new links and POSTs are answered with it
	polls      atomic.Int32
	pending    []protocol.Message
}

// newLinkFake serves negotiate (answering useStatefulReconnect as stateful says)
// and kind.
func newLinkFake(t *testing.T, kind transports.Kind, stateful bool) *linkFake {
	f := &linkFake{fake: newFake(t), t: t, kind: kind,
		toClient: make(chan string, 64), fromClient: make(chan string, 256),
		opened: make(chan string, 64), polled: make(chan string, 256), cutReq: make(chan struct{}, 1)}
	f.negotiate = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"connectionId":"cid","connectionToken":"tok","negotiateVersion":1,"useStatefulReconnect":%t,"availableTransports":[{"transport":%q,"transferFormats":["Text"]}]}`, stateful, kind.String())
	}
	refuse := func(w http.ResponseWriter) bool {
		if f.gone.Load() {
			http.Error(w, "No Connection with that ID", http.StatusNotFound)
			return true
		}
		if s := f.status.Load(); s != 0 {
			http.Error(w, "proxy says no", int(s))
			return true
		}
		return false
	}
	switch kind {
	case transports.WebSockets:
		f.fake.serve2 = func(w http.ResponseWriter, r *http.Request) bool {
			return websocket.IsWebSocketUpgrade(r) && refuse(w)
		}
		f.ws = func(conn *websocket.Conn, r *http.Request) {
			f.opened <- r.URL.RawQuery
			readerDone := make(chan struct{})
			go func() {
				defer close(readerDone)
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					f.fromClient <- string(data)
				}
			}()
			for {
				select {
				case u := <-f.toClient:
					if err := conn.WriteMessage(websocket.TextMessage, []byte(u)); err != nil {
						return
					}
				case <-f.cutReq:
					conn.UnderlyingConn().Close() // a reset: no close frame
					<-readerDone
					return
				case <-readerDone:
					return
				}
			}
		}
	case transports.ServerSentEvents:
		f.sse = func(w http.ResponseWriter, r *http.Request) {
			if refuse(w) {
				return
			}
			f.opened <- r.URL.RawQuery
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for {
				select {
				case u := <-f.toClient:
					for _, line := range strings.Split(u, "\n") {
						fmt.Fprintf(w, "data: %s\n", line)
					}
					io.WriteString(w, "\n")
					w.(http.Flusher).Flush()
				case <-f.cutReq:
					panic(http.ErrAbortHandler) // the stream is cut
				case <-r.Context().Done():
					return
				}
			}
		}
	case transports.LongPolling:
		f.poll = func(w http.ResponseWriter, r *http.Request) {
			if refuse(w) {
				return
			}
			if r.URL.Query().Get("resume") == "1" {
				f.opened <- r.URL.RawQuery
			}
			select {
			case f.polled <- r.URL.RawQuery:
			default:
			}
			if f.polls.Add(1) == 1 {
				w.WriteHeader(http.StatusOK)
				return
			}
			select {
			case u := <-f.toClient:
				io.WriteString(w, u)
			case <-f.cutReq:
				// Cut in the middle of the response (net/http would retry a poll
				// cut before its response started).
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"type":1,`)
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		f.del = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }
	}
	f.post = func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if refuse(w) {
			return
		}
		f.fromClient <- string(body)
	}
	return f
}

// cut cuts the current link (or the next one, if none is open).
func (f *linkFake) cut() { f.cutReq <- struct{}{} }

// next returns the next message from the client, pings skipped.
func (f *linkFake) next() protocol.Message {
	f.t.Helper()
	for {
		for len(f.pending) > 0 {
			m := f.pending[0]
			f.pending = f.pending[1:]
			if m.Type != protocol.PingType {
				return m
			}
		}
		select {
		case u := <-f.fromClient:
			msgs, err := protocol.JSON.ParseMessages([]byte(u), nil)
			if err != nil {
				f.t.Fatalf("bad unit from the client %q: %v", u, err)
			}
			f.pending = append(f.pending, msgs...)
		case <-time.After(5 * time.Second):
			f.t.Fatal("nothing from the client")
		}
	}
}

// nextSkipAcks returns the next message from the client that is not an Ack.
func (f *linkFake) nextSkipAcks() protocol.Message {
	f.t.Helper()
	for {
		if m := f.next(); m.Type != protocol.AckType {
			return m
		}
	}
}

// handshake reads the client's handshake request, checks its version and answers.
func (f *linkFake) handshake(version int) {
	f.t.Helper()
	select {
	case u := <-f.fromClient:
		req, rest, err := protocol.ParseHandshakeRequest([]byte(u))
		if err != nil || req.Protocol != "json" || req.Version != version || len(rest) != 0 {
			f.t.Errorf("handshake request %q: %+v, %v; want version %d", u, req, err, version)
		}
	case <-time.After(5 * time.Second):
		f.t.Fatal("no handshake request")
	}
	f.toClient <- "{}" + rs
}

// expectOpened waits for a new link and returns its query.
func (f *linkFake) expectOpened() string {
	f.t.Helper()
	select {
	case q := <-f.opened:
		return q
	case <-time.After(10 * time.Second):
		f.t.Fatal("no new link")
		return ""
	}
}
