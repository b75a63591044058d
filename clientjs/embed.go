// Package clientjs holds Hubbub's JavaScript client, built and embedded, and
// serves it, so that a page can load it from the server itself with no build
// step and no Node on the server:
//
//	<script src="/hubs/chat/hubbub.js"></script>            // defines the global Hubbub
//	import { connect } from "/hubbub.mjs";                  // the same client as an ES module
//	<script src="/hubs/chat/hubbub-msgpack.js"></script>    // the optional MessagePack protocol: HubbubMsgPack
//
// The sources are in src/ (ES modules with JSDoc types), the build in dist/:
// hubbub.js (a classic script), hubbub.mjs (an ES module) and hubbub.d.ts
// (TypeScript declarations), and the same three for the MessagePack protocol,
// hubbub-msgpack.js, hubbub-msgpack.mjs and hubbub-msgpack.d.ts. dist/ is committed and CI checks that it matches
// a fresh build (npm test in this directory). dist/ also holds the CommonJS
// builds (.cjs, .d.cts) of the npm package; browsers need neither, so they are
// not embedded.
//
// Handler serves the six files under any path whose last element is their
// name, so it can be mounted at several places. Responses carry a strong ETag
// (a hash of the content). A URL that names that ETag in ?v= is cached for a
// year as immutable; a plain URL is revalidated on every use (no-cache), and
// a matching If-None-Match gets 304. URL builds the versioned URL. The files are
// public code, so responses allow any origin (Access-Control-Allow-Origin: *).
//
// Package hub serves Handler under every hub's path by default
// (hub.Options.Assets), before CORS and authentication.
package clientjs

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed dist/hubbub.js dist/hubbub.mjs dist/hubbub.d.ts dist/hubbub-msgpack.js dist/hubbub-msgpack.mjs dist/hubbub-msgpack.d.ts
var dist embed.FS

// asset is one embedded file with what its responses need.
type asset struct {
	body        []byte
	contentType string
	etag        string // quoted, strong
	version     string // the ETag without quotes: the value ?v= must have for long caching
}

var assets = func() map[string]asset {
	types := map[string]string{
		"hubbub.js":   "text/javascript; charset=utf-8",
		"hubbub.mjs":  "text/javascript; charset=utf-8",
		"hubbub.d.ts": "application/typescript; charset=utf-8",

		"hubbub-msgpack.js":   "text/javascript; charset=utf-8",
		"hubbub-msgpack.mjs":  "text/javascript; charset=utf-8",
		"hubbub-msgpack.d.ts": "application/typescript; charset=utf-8",
	}
	m := make(map[string]asset, len(types))
	for name, ct := range types {
		body, err := dist.ReadFile("dist/" + name)
		if err != nil {
			panic("clientjs: missing embedded file: " + err.Error())
		}
		sum := sha256.Sum256(body)
		v := base64.RawURLEncoding.EncodeToString(sum[:12])
		m[name] = asset{body: body, contentType: ct, etag: `"` + v + `"`, version: v}
	}
	return m
}()

// Version returns the ETag value (without quotes) of an embedded file, for
// building a long-cached URL such as "/hubbub.js?v="+Version("hubbub.js").
// It returns "" for a name that is not embedded.
func Version(name string) string {
	return assets[name].version
}

// URL returns the long-cached URL of an embedded file under base, the path it is
// served at: URL("/hubs/chat", "hubbub.js") is "/hubs/chat/hubbub.js?v=" followed
// by its Version, which a browser keeps for a year and a new release changes. For a
// name that is not embedded it returns the plain path.
func URL(base, name string) string {
	u := strings.TrimRight(base, "/") + "/" + name
	if v := Version(name); v != "" {
		u += "?v=" + v
	}
	return u
}

// Handler serves GET and HEAD of hubbub.js, hubbub.mjs and hubbub.d.ts (and of
// hubbub-msgpack.js, .mjs and .d.ts) at any path that ends in one of those names, 404 for other names and 405 for other
// methods. It is safe for concurrent use.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[path.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	// Public code, fetched without credentials: a page on any origin may import it
	// as a module (<script type="module"> fetches cross-origin in CORS mode).
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(a.body)
	}
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match) or is "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// Names returns the names of the embedded files Handler serves, sorted, e.g. for
// a router that needs each route declared.
func Names() []string {
	return slices.Sorted(maps.Keys(assets))
}
