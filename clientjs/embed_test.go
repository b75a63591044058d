package clientjs

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	js, err := os.ReadFile("dist/hubbub.js")
	if err != nil {
		t.Fatal(err)
	}
	v := Version("hubbub.js")
	if v == "" || Version("nope.js") != "" {
		t.Fatalf("Version: got %q for hubbub.js", v)
	}
	etag := `"` + v + `"`
	tests := []struct {
		name       string
		method     string
		target     string
		header     map[string]string
		wantStatus int
		wantType   string
		wantCache  string
		wantBody   []byte // nil: not checked; checked to be empty for HEAD and 304
		wantNoBody bool
		wantETag   bool
	}{
		{name: "script at the root", method: "GET", target: "/hubbub.js", wantStatus: 200,
			wantType: "text/javascript; charset=utf-8", wantCache: "no-cache", wantBody: js, wantETag: true},
		{name: "script under a hub", method: "GET", target: "/hubs/chat/hubbub.js", wantStatus: 200,
			wantType: "text/javascript; charset=utf-8", wantCache: "no-cache", wantBody: js, wantETag: true},
		{name: "versioned URL is immutable", method: "GET", target: "/hubbub.js?v=" + v, wantStatus: 200,
			wantCache: "public, max-age=31536000, immutable", wantBody: js, wantETag: true},
		{name: "stale version is not long-cached", method: "GET", target: "/hubbub.js?v=old", wantStatus: 200,
			wantCache: "no-cache", wantBody: js, wantETag: true},
		{name: "ES module", method: "GET", target: "/x/hubbub.mjs", wantStatus: 200,
			wantType: "text/javascript; charset=utf-8", wantETag: true},
		{name: "type declarations", method: "GET", target: "/hubbub.d.ts", wantStatus: 200,
			wantType: "application/typescript; charset=utf-8", wantETag: true},
		{name: "HEAD has headers and no body", method: "HEAD", target: "/hubbub.js", wantStatus: 200,
			wantType: "text/javascript; charset=utf-8", wantNoBody: true, wantETag: true},
		{name: "revalidation: 304", method: "GET", target: "/hubbub.js", header: map[string]string{"If-None-Match": etag},
			wantStatus: 304, wantCache: "no-cache", wantNoBody: true, wantETag: true},
		{name: "revalidation: weak and listed", method: "GET", target: "/hubbub.js", header: map[string]string{"If-None-Match": `"x", W/` + etag},
			wantStatus: 304, wantNoBody: true, wantETag: true},
		{name: "changed content: 200", method: "GET", target: "/hubbub.js", header: map[string]string{"If-None-Match": `"other"`},
			wantStatus: 200, wantBody: js},
		{name: "other names: 404", method: "GET", target: "/hubs/chat/other.js", wantStatus: 404},
		{name: "the directory: 404", method: "GET", target: "/dist/", wantStatus: 404},
		{name: "not GET or HEAD: 405", method: "POST", target: "/hubbub.js", wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			for k, val := range tc.header {
				req.Header.Set(k, val)
			}
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if tc.wantType != "" && res.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantCache != "" && res.Header.Get("Cache-Control") != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tc.wantCache)
			}
			if tag := res.Header.Get("ETag"); tc.wantETag && (!strings.HasPrefix(tag, `"`) || strings.HasPrefix(tag, "W/")) {
				t.Errorf("ETag %q, want a strong ETag", tag)
			}
			body := rec.Body.Bytes()
			if tc.wantBody != nil && !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body: %d bytes, want the %d bytes of the file", len(body), len(tc.wantBody))
			}
			if tc.wantNoBody && len(body) != 0 {
				t.Errorf("body: %d bytes, want none", len(body))
			}
		})
	}
}

func TestETagsDifferPerFile(t *testing.T) {
	seen := map[string]string{}
	for _, name := range []string{"hubbub.js", "hubbub.mjs", "hubbub.d.ts", "hubbub-msgpack.js", "hubbub-msgpack.mjs", "hubbub-msgpack.d.ts"} {
		v := Version(name)
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s share ETag %q", name, other, v)
		}
		seen[v] = name
	}
}

func TestHandlerThroughAServer(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/hubbub.js", Handler())
	mux.Handle("/hubs/{hub}/hubbub.js", Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/hubs/chat/hubbub.js")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("ETag") == "" {
		t.Fatalf("status %d, ETag %q", res.StatusCode, res.Header.Get("ETag"))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/hubbub.js", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: status %d, want 304", res2.StatusCode)
	}
}

// The MessagePack protocol is served next to hubbub.js, under a hub's path too.
func TestHandlerServesTheMessagePackModule(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/hubs/{hub}/{file}", Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		file, wantType, wantIn string
	}{
		{"hubbub-msgpack.js", "text/javascript; charset=utf-8", "HubbubMsgPack"},
		{"hubbub-msgpack.mjs", "text/javascript; charset=utf-8", "export"},
		{"hubbub-msgpack.d.ts", "application/typescript; charset=utf-8", "export declare function protocol"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile("dist/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(srv.URL + "/hubs/chat/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != tc.wantType {
				t.Fatalf("status %d, Content-Type %q; want 200, %q", res.StatusCode, res.Header.Get("Content-Type"), tc.wantType)
			}
			if !bytes.Equal(body, want) || !strings.Contains(string(body), tc.wantIn) {
				t.Fatalf("body: %d bytes, want the %d bytes of dist/%s", len(body), len(want), tc.file)
			}
		})
	}
}
