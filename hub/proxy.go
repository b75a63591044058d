package hub

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// Reverse proxies (Options.TrustedProxies).
//
// A proxy in front of the hub may rewrite Host to its upstream's and says what the
// client asked for in forwarding headers: RFC 7239 Forwarded (for=, host=, proto=)
// or the older X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto. Anyone can
// send those headers, so they are read only when the TCP peer is a listed proxy.
// Then:
//
//   - the host a same-origin Origin must name is Forwarded's host= (first element),
//     else the first X-Forwarded-Host; the scheme, when a proto is given, must
//     match too;
//   - the client's address is found by walking X-Forwarded-For (else Forwarded's
//     for= list) from the right, past trusted proxies, to the first address that
//     is not one. The entries left of it were written by the client and are never
//     believed. X-Forwarded-For is read before Forwarded here, unlike for the host:
//     it is the header nearly every proxy appends to, and a Forwarded header the
//     client sent and the proxy passed on unread would otherwise pick the address.
//     (A spoofed host is harmless: it can only make the origin check pass for a
//     request the client could have sent with any Origin it liked. Browsers, which
//     the origin check is about, cannot set these headers without a preflight,
//     and the preflight carries no spoofed header.)

// ParseTrustedProxies parses [Options.TrustedProxies]: CIDRs ("10.0.0.0/8",
// "fd00::/8") and bare addresses ("127.0.0.1", "::1"), with surrounding spaces
// ignored and empty entries skipped. It returns the entries it could parse, and an
// error naming every one it could not. [New] logs such an error and goes on without
// the bad entries; a program that reads the list from its configuration should
// call this first and refuse to start on an error.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", e))
				continue
			}
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an IP address or a CIDR", e))
			continue
		}
		a = a.Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(errs) > 0 {
		return prefixes, fmt.Errorf("hub: TrustedProxies: %w", errors.Join(errs...))
	}
	return prefixes, nil
}

// trustedProxies are the peers whose forwarding headers are believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the request's TCP peer, if its address parses.
func peer(r *http.Request) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// trusts reports whether r came straight from a trusted proxy.
func (t trustedProxies) trusts(r *http.Request) bool {
	if len(t) == 0 {
		return false
	}
	a, ok := peer(r)
	return ok && t.contains(a)
}

// clientIP is the address of the client r is from: the TCP peer, or behind trusted
// proxies the first address in the forwarding chain, from the right, that is not a
// trusted proxy. Used for MaxConnectionsPerIP and in logs.
func (t trustedProxies) clientIP(r *http.Request) string {
	if !t.trusts(r) {
		return remoteIP(r)
	}
	client, _ := peer(r)
	chain := forwardedFor(r.Header)
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseNode(chain[i])
		if !ok {
			// "unknown", an obfuscated name, garbage: the last trusted hop is as
			// far back as anyone can be believed.
			break
		}
		client = a
		if !t.contains(a) {
			break
		}
	}
	return client.String()
}

// remoteIP is the request's TCP peer address without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// originTarget is what the Origin of a same-origin request names.
type originTarget struct {
	scheme    string // "http" or "https"; empty when unknown (then not compared)
	host      string
	forwarded bool // host or scheme came from a trusted proxy's headers
	trusted   bool // the request came from a trusted proxy
}

// originTarget is r's own Host, or what a trusted proxy in front says the client
// asked for.
func (t trustedProxies) originTarget(r *http.Request) originTarget {
	target := originTarget{host: r.Host}
	if !t.trusts(r) {
		return target
	}
	target.trusted = true
	host, proto := forwardedHost(r.Header)
	if host != "" {
		target.host, target.forwarded = host, true
	}
	if proto != "" {
		target.scheme, target.forwarded = proto, true
	}
	return target
}

// matches reports whether origin is the same origin as the target.
func (o originTarget) matches(origin string) bool {
	return transports.SameOriginAs(origin, o.scheme, o.host)
}

// String is the target as a refusal explains it: "host backend:8080", or with a
// scheme from a proxy "https://app.example.com".
func (o originTarget) String() string {
	if o.scheme != "" {
		return o.expected()
	}
	return "host " + o.host
}

// expected is the target for a log line: "backend:8080" or "https://app.example.com".
func (o originTarget) expected() string {
	if o.scheme != "" {
		return o.scheme + "://" + o.host
	}
	return o.host
}

// forwardedHost is the host and scheme the client asked for, as a proxy tells:
// Forwarded's first element's host= and proto=, else the first X-Forwarded-Host and
// X-Forwarded-Proto. The scheme is "http" or "https" (ws and wss count as those),
// or empty when not given or not one of these.
func forwardedHost(h http.Header) (host, proto string) {
	if elems := forwardedElements(h.Values("Forwarded")); len(elems) > 0 && !elems[0].bad {
		host, proto = elems[0].host, elems[0].proto
	}
	if host == "" {
		host = firstListValue(h.Values("X-Forwarded-Host"))
	}
	if proto == "" {
		proto = firstListValue(h.Values("X-Forwarded-Proto"))
	}
	switch strings.ToLower(proto) {
	case "http", "ws":
		proto = "http"
	case "https", "wss":
		proto = "https"
	default:
		proto = ""
	}
	return host, proto
}

// forwardedFor is the chain of addresses proxies recorded, the original client
// first: X-Forwarded-For, else Forwarded's for= values. An entry that says nothing
// usable stays in its place, empty (Forwarded) or as sent (X-Forwarded-For), so that
// the walk from the right stops there.
func forwardedFor(h http.Header) []string {
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		var chain []string
		for _, line := range xff {
			for v := range strings.SplitSeq(line, ",") {
				if v = strings.TrimSpace(v); v != "" {
					chain = append(chain, v)
				}
			}
		}
		return chain
	}
	var chain []string
	for _, e := range forwardedElements(h.Values("Forwarded")) {
		if e.bad {
			e.node = ""
		}
		chain = append(chain, e.node)
	}
	return chain
}

// firstListValue is the first non-empty element of a comma-separated header.
func firstListValue(lines []string) string {
	for _, line := range lines {
		for v := range strings.SplitSeq(line, ",") {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// parseNode reads a forwarded address: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:4711". "unknown" and obfuscated names
// ("_hidden") are not addresses.
func parseNode(s string) (netip.Addr, bool) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		inside, after, ok := strings.Cut(rest, "]")
		if !ok || (after != "" && !strings.HasPrefix(after, ":")) {
			return netip.Addr{}, false
		}
		s = inside
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// forwardedElement is one element of a Forwarded header.
type forwardedElement struct {
	node, host, proto string
	bad               bool // malformed: a pair without "=", a repeated name, an open quote
}

// forwardedElements parses Forwarded header lines (RFC 7239 section 4): elements
// separated by commas, each of name=value pairs separated by semicolons, values
// tokens or quoted strings. Empty elements are skipped, as list syntax allows.
func forwardedElements(lines []string) []forwardedElement {
	var elems []forwardedElement
	for _, line := range lines {
		for i := 0; i < len(line); {
			var e forwardedElement
			empty := true
			seen := map[string]bool{}
			for {
				i = skipSpace(line, i)
				if i >= len(line) || line[i] == ',' {
					break
				}
				empty = false
				name, value, next, ok := forwardedPair(line, i)
				i = next
				name = strings.ToLower(name)
				if !ok || seen[name] {
					e.bad = true
				}
				seen[name] = true
				switch name {
				case "for":
					e.node = value
				case "host":
					e.host = value
				case "proto":
					e.proto = value
				}
				i = skipSpace(line, i)
				if i < len(line) && line[i] == ';' {
					i++
				}
			}
			i++ // the comma
			if !empty {
				elems = append(elems, e)
			}
		}
	}
	return elems
}

// forwardedPair reads one name=value pair at s[i:], up to the next ";" or ",". It
// returns where it stopped, and ok false for a malformed pair.
func forwardedPair(s string, i int) (name, value string, next int, ok bool) {
	start := i
	for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ',' {
		i++
	}
	name = strings.TrimSpace(s[start:i])
	if i >= len(s) || s[i] != '=' || name == "" {
		for i < len(s) && s[i] != ';' && s[i] != ',' {
			i++
		}
		return name, "", i, false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		for i++; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case c == '"':
				return name, b.String(), i + 1, true
			default:
				b.WriteByte(c)
			}
		}
		return name, "", i, false // no closing quote
	}
	start = i
	for i < len(s) && s[i] != ';' && s[i] != ',' {
		i++
	}
	return name, strings.TrimSpace(s[start:i]), i, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// refusalLogInterval is the least time between two log lines of a kind a client
// can cause at will ("origin refused", limits, 401, 413…) in a hub: a
// misconfigured proxy refuses every browser, a flood of negotiates every one past a
// limit, and one line a second with a count says so as well as thousands.
const refusalLogInterval = time.Second

// logSampler lets one log line through per interval and counts the ones it held
// back.
type logSampler struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// logSamplers keeps a logSampler per log message, so that a flood of one kind of
// line leaves the others alone. Messages are constants: the map stays small.
type logSamplers struct {
	mu sync.Mutex
	by map[string]*logSampler
}

// of returns msg's sampler.
func (l *logSamplers) of(msg string) *logSampler {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.by[msg]
	if s == nil {
		if l.by == nil {
			l.by = map[string]*logSampler{}
		}
		s = &logSampler{}
		l.by[msg] = s
	}
	return s
}

// allow reports whether a line may be written at now, and how many were held back
// since the last one written.
func (s *logSampler) allow(now time.Time, interval time.Duration) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.next, s.suppressed = now.Add(interval), 0
	return true, n
}

// ClientIP is the address of the client r is from: its TCP peer, or behind a
// proxy listed in [Options.TrustedProxies] the client that proxy forwards for.
// It is the address MaxConnectionsPerIP counts and the logs name.
func (h *Hub) ClientIP(r *http.Request) string { return h.proxies.clientIP(r) }

// ClientSecure reports whether the client r is from reached the server over
// TLS: r.TLS is set, or a proxy listed in [Options.TrustedProxies] says the
// client asked for https (Forwarded proto=, X-Forwarded-Proto). A cookie to set
// on it may then be Secure.
func (h *Hub) ClientSecure(r *http.Request) bool {
	return r.TLS != nil || h.proxies.originTarget(r).scheme == "https"
}
