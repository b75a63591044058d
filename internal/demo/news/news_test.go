package news_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/demo/news"
	"github.com/hubbub-go/hubbub/transports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var kinds = []struct {
	name string
	kind transports.Kind
}{
	{"WebSockets", transports.WebSockets},
	{"ServerSentEvents", transports.ServerSentEvents},
	{"LongPolling", transports.LongPolling},
}

type server struct {
	url  string
	news *news.News
}

// start serves the feed's hub and API on a loopback httptest server; with a
// positive interval the publisher runs until the test ends.
func start(t *testing.T, opts news.Options) *server {
	t.Helper()
	opts.Hub.Logger = quiet
	n := news.New(opts)
	mux := http.NewServeMux()
	mux.Handle("/hubs/news", n.Hub())
	mux.Handle("/hubs/news/", n.Hub())
	mux.Handle("/api/news", n.API())
	mux.Handle("/api/news/", n.API())
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if opts.Interval > 0 {
		go func() { defer close(done); n.Run(ctx) }()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelClose()
		if err := n.Hub().Close(closeCtx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return &server{url: srv.URL, news: n}
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestREST(t *testing.T) {
	s := start(t, news.Options{Seed: 30})
	defer http.DefaultClient.CloseIdleConnections()

	res, body := get(t, s.url+"/api/news", nil)
	var companies []news.Company
	if err := json.Unmarshal(body, &companies); err != nil || res.StatusCode != 200 || !slices.Equal(companies, news.Companies) {
		t.Fatalf("GET /api/news: %d %s", res.StatusCode, body)
	}

	res, body = get(t, s.url+"/api/news/acme", nil)
	var recent news.Recent
	if err := json.Unmarshal(body, &recent); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/news/acme: %d %s", res.StatusCode, body)
	}
	if recent.LatestID != 30 || len(recent.Articles) != news.DefaultLimit || recent.Articles[0].ID != 30 || recent.Articles[19].ID != 11 {
		t.Errorf("latest %d, %d articles, first %d", recent.LatestID, len(recent.Articles), recent.Articles[0].ID)
	}
	if recent.Company.Name != "Acme Corp" || recent.Articles[0].Company != "acme" || recent.Articles[0].Title == "" {
		t.Errorf("recent = %+v", recent.Articles[0])
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("headers: %v", res.Header)
	}

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"revalidation", "/api/news/acme", http.Header{"If-None-Match": {etag}}, http.StatusNotModified},
		{"weak revalidation in a list", "/api/news/acme", http.Header{"If-None-Match": {`"x", W/` + etag}}, http.StatusNotModified},
		{"other etag", "/api/news/acme", http.Header{"If-None-Match": {`"x"`}}, http.StatusOK},
		{"another limit is another representation", "/api/news/acme?limit=3", http.Header{"If-None-Match": {etag}}, http.StatusOK},
		{"another company", "/api/news/globex", http.Header{"If-None-Match": {etag}}, http.StatusOK},
		{"unknown company", "/api/news/nope", nil, http.StatusNotFound},
		{"limit 0", "/api/news/acme?limit=0", nil, http.StatusBadRequest},
		{"limit too big", "/api/news/acme?limit=101", nil, http.StatusBadRequest},
		{"limit not a number", "/api/news/acme?limit=x", nil, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, s.url+tc.path, tc.header)
			if res.StatusCode != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.path, res.StatusCode, body, tc.status)
			}
			if tc.status == http.StatusNotModified && (len(body) != 0 || res.Header.Get("ETag") != etag) {
				t.Errorf("304 with body %q, ETag %q", body, res.Header.Get("ETag"))
			}
		})
	}

	// A new article changes the ETag.
	if _, err := s.news.Publish(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	res, body = get(t, s.url+"/api/news/acme?limit=3", http.Header{"If-None-Match": {etag}})
	if err := json.Unmarshal(body, &recent); err != nil || res.StatusCode != 200 || res.Header.Get("ETag") == etag ||
		recent.LatestID != 31 || len(recent.Articles) != 3 || recent.Articles[0].ID != 31 {
		t.Errorf("after publishing: %d %s", res.StatusCode, body)
	}
	if _, err := s.news.Publish(context.Background(), "nope"); err == nil {
		t.Error("Publish to an unknown company worked")
	}
}

// subscriber is a connection collecting live articles.
type subscriber struct {
	conn *client.Conn
	mu   sync.Mutex
	live map[string][]int64
}

func subscribe(t *testing.T, s *server, kind transports.Kind) *subscriber {
	t.Helper()
	conn, err := client.New(s.url+"/hubs/news", client.Options{Transports: kind, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sub := &subscriber{conn: conn, live: map[string][]int64{}}
	conn.On("article", func(args []protocol.RawValue) {
		var a news.Article
		if err := client.DecodeArgs(args, &a); err != nil {
			t.Error(err)
			return
		}
		sub.mu.Lock()
		sub.live[a.Company] = append(sub.live[a.Company], a.ID)
		sub.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sub
}

func (s *subscriber) ids(company string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.live[company])
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoGapNoDuplicate does what the page does while the publisher runs fast:
// GET the recent articles, Subscribe after the latest, merge. Every ID from the
// first one fetched on must be there exactly once.
func TestNoGapNoDuplicate(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := start(t, news.Options{Interval: 25 * time.Millisecond})
			sub := subscribe(t, s, k.kind)
			defer http.DefaultClient.CloseIdleConnections()
			for _, pause := range []time.Duration{0, 60 * time.Millisecond} {
				for _, company := range []string{"acme", "globex"} {
					_, body := get(t, s.url+"/api/news/"+company+"?limit=5", nil)
					var recent news.Recent
					if err := json.Unmarshal(body, &recent); err != nil {
						t.Fatal(err)
					}
					time.Sleep(pause) // articles published now must come in the backlog
					backlog, err := client.InvokeAs[[]news.Article](context.Background(), sub.conn, "Subscribe", company, recent.LatestID)
					if err != nil {
						t.Fatal(err)
					}
					if pause > 0 && len(backlog) == 0 {
						t.Errorf("%s: an empty backlog after a %s pause", company, pause)
					}
					target := recent.LatestID + 20
					eventually(t, "20 more articles", func() bool {
						ids := sub.ids(company)
						return len(ids) > 0 && ids[len(ids)-1] >= target
					})
					var all []int64
					for _, a := range recent.Articles {
						all = append(all, a.ID)
					}
					for _, a := range backlog {
						all = append(all, a.ID)
					}
					all = append(all, sub.ids(company)...)
					slices.Sort(all)
					first := recent.Articles[len(recent.Articles)-1].ID
					for i, id := range all {
						if id != first+int64(i) {
							t.Fatalf("%s (pause %s): ids %v: gap or duplicate at %d (REST up to %d, backlog %d)",
								company, pause, all, id, recent.LatestID, len(backlog))
						}
					}
					if err := sub.conn.Send(context.Background(), "Unsubscribe", company); err != nil {
						t.Fatal(err)
					}
				}
				// Start over with nothing live.
				_, err := sub.conn.Invoke(context.Background(), "Companies") // ordered after the Unsubscribes
				if err != nil {
					t.Fatal(err)
				}
				sub.mu.Lock()
				sub.live = map[string][]int64{}
				sub.mu.Unlock()
			}
		})
	}
}

func TestUnsubscribe(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := start(t, news.Options{Interval: 50 * time.Millisecond})
			sub := subscribe(t, s, k.kind)
			other := subscribe(t, s, k.kind)
			ctx := context.Background()
			for _, c := range []string{"acme", "hooli"} {
				if _, err := sub.conn.Invoke(ctx, "Subscribe", c, 1<<40); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := other.conn.Invoke(ctx, "Subscribe", "globex", 1<<40); err != nil {
				t.Fatal(err)
			}
			eventually(t, "live acme articles", func() bool { return len(sub.ids("acme")) >= 2 })
			if _, err := sub.conn.Invoke(ctx, "Unsubscribe", "acme"); err != nil {
				t.Fatal(err)
			}
			n := len(sub.ids("acme"))
			h := len(sub.ids("hooli"))
			eventually(t, "more hooli articles", func() bool { return len(sub.ids("hooli")) >= h+4 })
			// One article may have been on its way while Unsubscribe ran.
			if got := len(sub.ids("acme")); got > n+1 {
				t.Errorf("%d acme articles after Unsubscribe", got-n)
			}
			if got := sub.ids("globex"); len(got) != 0 {
				t.Errorf("got globex articles without subscribing: %v", got)
			}
			if got := other.ids("acme"); len(got) != 0 {
				t.Errorf("the other subscriber got acme articles: %v", got)
			}
			if len(other.ids("globex")) == 0 {
				t.Error("the other subscriber got no globex articles")
			}
			var ie *client.InvocationError
			if _, err := sub.conn.Invoke(ctx, "Subscribe", "nope", 0); !errors.As(err, &ie) || ie.Message != `There is no company "nope".` {
				t.Errorf("Subscribe(nope): %v", err)
			}
			companies, err := client.InvokeAs[[]news.Company](ctx, sub.conn, "Companies")
			if err != nil || !slices.Equal(companies, news.Companies) {
				t.Errorf("Companies() = %v, %v", companies, err)
			}
		})
	}
}

func TestSubscribeBacklog(t *testing.T) {
	s := start(t, news.Options{Seed: -1})
	sub := subscribe(t, s, transports.WebSockets)
	for range 3 {
		if _, err := s.news.Publish(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		after int64
		want  []int64
	}{{0, []int64{1, 2, 3}}, {1, []int64{2, 3}}, {3, nil}, {99, nil}} {
		got, err := client.InvokeAs[[]news.Article](context.Background(), sub.conn, "Subscribe", "acme", tc.after)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("Subscribe(acme, %d) = %v, want %v", tc.after, ids, tc.want)
		}
	}
}
