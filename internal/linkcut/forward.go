package linkcut

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"time"
)

// errGatewayTimeout cancels an upstream request that is answered 504.
var errGatewayTimeout = errors.New("linkcut: gateway timeout")

type (
	linkKey   struct{}
	flightKey struct{}
)

// ServeHTTP forwards a request to the target, unless it is for the control API or
// arrives during a black hole.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l, _ := r.Context().Value(linkKey{}).(*link)
	if p.opts.ControlAPI && strings.HasPrefix(r.URL.Path, controlPrefix) {
		p.serveControl(w, r, l)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	f := &flight{cancel: cancel}
	if !p.addFlight(l, f) {
		http.Error(w, "linkcut: the proxy is closing", http.StatusServiceUnavailable)
		return
	}
	defer p.wg.Done()
	defer p.removeFlight(l, f)
	if held := p.holdIfBlackHoled(l); held != nil {
		select { // the hole resets l when it ends: there is nobody to answer
		case <-held:
		case <-ctx.Done():
		}
		return
	}
	p.forward.ServeHTTP(w, r.WithContext(context.WithValue(ctx, flightKey{}, f)))
}

// addFlight records f on l, unless l or the proxy is closed. The caller must call
// p.wg.Done when the request is over.
func (p *Proxy) addFlight(l *link, f *flight) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, live := p.links[l]; !live || p.closed {
		return false
	}
	p.wg.Add(1)
	l.flights = append(l.flights, f)
	return true
}

func (p *Proxy) removeFlight(l *link, f *flight) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.flights = slices.DeleteFunc(l.flights, func(g *flight) bool { return g == f })
}

// roundTrip forwards one request upstream, answering 504 (through proxyError) if
// the response does not start within HoldLimit or a GatewayTimeout cut comes first.
func (p *Proxy) roundTrip(req *http.Request) (*http.Response, error) {
	f := req.Context().Value(flightKey{}).(*flight)
	ctx, cancel := context.WithCancelCause(req.Context())
	p.mu.Lock()
	p.stats.Requests++
	f.upstream = cancel
	p.mu.Unlock()
	if p.opts.HoldLimit > 0 {
		timer := time.AfterFunc(p.opts.HoldLimit, func() { p.gatewayTimeout(f) })
		defer timer.Stop()
	}
	resp, err := p.transport.RoundTrip(req.WithContext(ctx))
	p.mu.Lock()
	timedOut := errors.Is(context.Cause(ctx), errGatewayTimeout)
	f.upstream = nil
	f.started = err == nil && !timedOut
	p.mu.Unlock()
	if timedOut {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, errGatewayTimeout
	}
	return resp, err
}

// gatewayTimeout cancels f's upstream request with errGatewayTimeout if its
// response has not started, and reports whether it did.
func (p *Proxy) gatewayTimeout(f *flight) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.upstream == nil {
		return false
	}
	f.upstream(errGatewayTimeout)
	f.upstream = nil
	p.stats.Cuts[GatewayTimeout]++
	return true
}

// rewrite directs a request to the target, as a transparent proxy or, with
// RewriteHost, as a reverse proxy in front of an app.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target)
	if !p.opts.RewriteHost {
		pr.Out.Host = pr.In.Host
		for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v, ok := pr.In.Header[h]; ok {
				pr.Out.Header[h] = v
			}
		}
		return
	}
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	pr.Out.Header["Forwarded"] = pr.In.Header["Forwarded"]
	pr.Out.Header.Add("Forwarded", forwarded(pr.In))
}

// forwarded returns the RFC 7239 Forwarded element describing in.
func forwarded(in *http.Request) string {
	node := in.RemoteAddr
	if host, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		node = host
	}
	if strings.Contains(node, ":") { // IPv6: quoted and bracketed
		node = `"[` + node + `]"`
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	return fmt.Sprintf("for=%s;host=%q;proto=%s", node, in.Host, proto)
}

// proxyError answers a request the proxy could not forward.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errGatewayTimeout):
		p.opts.Logf("linkcut: 504 for %s %s", r.Method, r.URL)
		http.Error(w, "linkcut: gateway timeout: the upstream did not start its response in time", http.StatusGatewayTimeout)
	case r.Context().Err() != nil:
		// The link was cut or the client went away: there is nobody to answer.
	default:
		p.opts.Logf("linkcut: %s %s: %v", r.Method, r.URL, err)
		http.Error(w, "linkcut: bad gateway: "+err.Error(), http.StatusBadGateway)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return rt(req) }

// logfLogger adapts Logf for the HTTP server's and the reverse proxy's ErrorLog.
func logfLogger(logf func(string, ...any)) *log.Logger {
	return log.New(writerFunc(func(b []byte) (int, error) {
		logf("linkcut: %s", strings.TrimSpace(string(b)))
		return len(b), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }
