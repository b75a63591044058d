package linkcut

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// controlPrefix is where the control API lives when Options.ControlAPI is set:
//
//	POST /__linkcut/cut?kind=reset  → {"cut": n}       (Cut; kind as in AllKinds)
//	GET  /__linkcut/stats           → Stats as JSON
//	POST /__linkcut/pause           → Stats as JSON    (Pause)
//	POST /__linkcut/resume          → Stats as JSON    (Resume)
//
// Errors are {"error": "..."} with status 400, 404 or 405. Control requests are
// answered with "Connection: close" and their links are never cut nor counted, so
// that a client sharing one connection pool for control and traffic cannot cut its
// own control call.
const controlPrefix = "/__linkcut/"

func (p *Proxy) serveControl(w http.ResponseWriter, r *http.Request, l *link) {
	if l != nil {
		p.mu.Lock()
		l.control = true
		p.mu.Unlock()
	}
	w.Header().Set("Connection", "close")
	method, ok := map[string]string{"cut": "POST", "stats": "GET", "pause": "POST", "resume": "POST"}[strings.TrimPrefix(r.URL.Path, controlPrefix)]
	switch {
	case !ok:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "linkcut: no such control endpoint: " + r.URL.Path})
		return
	case r.Method != method:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "linkcut: " + r.URL.Path + " wants " + method})
		return
	}
	switch strings.TrimPrefix(r.URL.Path, controlPrefix) {
	case "cut":
		kind := Kind(r.URL.Query().Get("kind"))
		if !slices.Contains(AllKinds, kind) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "linkcut: kind must be one of reset, blackhole, 504, midresponse"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"cut": p.Cut(kind)})
		return
	case "pause":
		p.Pause()
	case "resume":
		p.Resume()
	}
	writeJSON(w, http.StatusOK, p.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
