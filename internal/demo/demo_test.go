package demo_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/internal/demo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPages(t *testing.T) {
	app, err := demo.New(demo.Options{NewsInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	app.Start(context.Background())
	defer app.Stop()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	tests := []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html; charset=utf-8", `href="/chat"`, 200},
		{"/chat", "text/html; charset=utf-8", `<script src="/hubs/chat/hubbub.js" defer></script>`, 200},
		{"/news", "text/html; charset=utf-8", `<script src="/hubs/news/hubbub.js" defer></script>`, 200},
		{"/static/style.css", "text/css; charset=utf-8", "--accent", 200},
		{"/static/chat.js", "text/javascript; charset=utf-8", "textContent", 200},
		{"/static/chat.html", "", "", 404},
		{"/static/nope.js", "", "", 404},
		{"/elsewhere", "", "", 404},
		{"/api/news/acme", "application/json; charset=utf-8", `"latestId"`, 200},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			etag := res.Header.Get("ETag")
			if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("ETag %q, Cache-Control %q", etag, res.Header.Get("Cache-Control"))
			}
			if strings.HasPrefix(tc.path, "/api/") {
				return
			}
			if strings.HasPrefix(tc.contentType, "text/html") && !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("CSP %q", res.Header.Get("Content-Security-Policy"))
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.Header.Set("If-None-Match", etag)
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation: %d", res.StatusCode)
			}
		})
	}

	// The publisher runs between Start and Stop.
	deadline := time.Now().Add(5 * time.Second)
	for {
		articles, latest, _ := app.News.Recent("acme", 1)
		if latest > 12 && len(articles) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the publisher did not publish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var paths []string
	for _, r := range app.Routes() {
		paths = append(paths, r.Path)
	}
	if got := strings.Join(paths, " "); got != "/ /chat /news /static/*file /api/news /api/news/:company" {
		t.Errorf("routes: %s", got)
	}
	if hubs := app.Hubs(); len(hubs) != 2 || hubs[0].Path != "/hubs/chat" || hubs[1].Hub.Name() != "news" {
		t.Errorf("hubs: %+v", hubs)
	}
}
