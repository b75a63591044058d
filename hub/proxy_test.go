package hub

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseForwarding: what the forwarding headers say, read as a trusted proxy's
// would be: Forwarded (RFC 7239) before X-Forwarded-Host/-Proto for the host and
// scheme, X-Forwarded-For before Forwarded for= for the address chain.
func TestParseForwarding(t *testing.T) {
	tests := []struct {
		name              string
		header            http.Header
		wantHost, wantPro string
		wantFor           []string
	}{
		{name: "none", header: http.Header{}},
		{name: "Forwarded, one element",
			header:   http.Header{"Forwarded": {"for=192.0.2.60;proto=https;host=app.example.com;by=203.0.113.43"}},
			wantHost: "app.example.com", wantPro: "https", wantFor: []string{"192.0.2.60"}},
		{name: "Forwarded, names and proto in any case, spaces around separators",
			header:   http.Header{"Forwarded": {` Host=App.Example.com ; PROTO=HTTPS ; For=192.0.2.60 `}},
			wantHost: "App.Example.com", wantPro: "https", wantFor: []string{"192.0.2.60"}},
		{name: "Forwarded, quoted IPv6 with a port, and a quoted host with a port",
			header:   http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711";host="app.example.com:8443"`}},
			wantHost: "app.example.com:8443", wantFor: []string{"[2001:db8:cafe::17]:4711"}},
		{name: "Forwarded, quoted string with a comma, a semicolon and an escape",
			header:   http.Header{"Forwarded": {`for="_a,b;c\"d";host=h1, for=192.0.2.1`}},
			wantHost: "h1", wantFor: []string{`_a,b;c"d`, "192.0.2.1"}},
		{name: "Forwarded, several elements: host and proto from the first",
			header:   http.Header{"Forwarded": {"for=192.0.2.1;host=first.example;proto=https, for=10.0.0.2;host=second.example;proto=http"}},
			wantHost: "first.example", wantPro: "https", wantFor: []string{"192.0.2.1", "10.0.0.2"}},
		{name: "Forwarded, several header lines are one list",
			header:   http.Header{"Forwarded": {"for=192.0.2.1;host=first.example", "for=10.0.0.2"}},
			wantHost: "first.example", wantFor: []string{"192.0.2.1", "10.0.0.2"}},
		{name: "Forwarded wins over X-Forwarded-Host for the host",
			header:   http.Header{"Forwarded": {"host=rfc.example;proto=https"}, "X-Forwarded-Host": {"x.example"}, "X-Forwarded-Proto": {"http"}},
			wantHost: "rfc.example", wantPro: "https", wantFor: []string{""}}, // an element without for= stops the walk
		{name: "Forwarded without host: X-Forwarded-Host",
			header:   http.Header{"Forwarded": {"for=192.0.2.1"}, "X-Forwarded-Host": {"x.example"}, "X-Forwarded-Proto": {"https"}},
			wantHost: "x.example", wantPro: "https", wantFor: []string{"192.0.2.1"}},
		{name: "X-Forwarded-For wins over Forwarded for= (the header most proxies append to)",
			header:  http.Header{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"192.0.2.1"}},
			wantFor: []string{"192.0.2.1"}},
		{name: "X-Forwarded-*: first values, chain in order across lines",
			header: http.Header{
				"X-Forwarded-Host":  {"app.example.com, inner.example", "other.example"},
				"X-Forwarded-Proto": {"https, http"},
				"X-Forwarded-For":   {"203.0.113.9, 198.51.100.1", " 10.0.0.2 "},
			},
			wantHost: "app.example.com", wantPro: "https", wantFor: []string{"203.0.113.9", "198.51.100.1", "10.0.0.2"}},
		{name: "wss and ws protos are https and http", header: http.Header{"X-Forwarded-Proto": {"WSS"}}, wantPro: "https"},
		{name: "unknown proto is ignored", header: http.Header{"X-Forwarded-Proto": {"gopher"}}},
		{name: "garbage Forwarded: unterminated quote, pairs without =, a repeated name",
			header:   http.Header{"Forwarded": {`host=a;host=b, junk, for="192.0.2.1`}, "X-Forwarded-Host": {"x.example"}},
			wantHost: "x.example", wantFor: []string{"", "", ""}},
		{name: "empty list elements are ignored (RFC 9110 5.6.1)",
			header:  http.Header{"Forwarded": {"for=192.0.2.1, ,for=10.0.0.2,"}, "X-Forwarded-Host": {" , x.example"}},
			wantFor: []string{"192.0.2.1", "10.0.0.2"}, wantHost: "x.example"},
		{name: "X-Forwarded-For keeps garbage in its place",
			header:  http.Header{"X-Forwarded-For": {"192.0.2.1, unknown,, 10.0.0.2"}},
			wantFor: []string{"192.0.2.1", "unknown", "10.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host, proto := forwardedHost(tc.header)
			if host != tc.wantHost || proto != tc.wantPro {
				t.Errorf("host, proto = %q, %q; want %q, %q", host, proto, tc.wantHost, tc.wantPro)
			}
			if got := forwardedFor(tc.header); !slices.Equal(got, tc.wantFor) {
				t.Errorf("for = %q, want %q", got, tc.wantFor)
			}
		})
	}
}

// TestClientIP: the chain is walked from the right past trusted proxies; the first
// untrusted address is the client. From an untrusted peer the headers count for
// nothing.
func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	trusted := trustedProxies(proxies)
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		header  http.Header
		want    string
	}{
		{"no proxies configured", nil, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"192.0.2.1"}}, "127.0.0.1"},
		{"untrusted peer", trusted, "192.0.2.200:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.200"},
		{"trusted peer, one hop", trusted, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1"},
		{"spoofed entries left of the client are skipped", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"203.0.113.66, 192.0.2.1, 10.1.2.3"}}, "192.0.2.1"},
		{"trusted peer, no header: the peer", trusted, "10.0.0.1:5000", http.Header{}, "10.0.0.1"},
		{"every hop trusted: the leftmost", trusted, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"10.0.0.9, 10.0.0.8"}}, "10.0.0.9"},
		{"garbage stops the walk at the last trusted hop", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"192.0.2.1, unknown, 10.0.0.8"}}, "10.0.0.8"},
		{"garbage right away: the peer", trusted, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"192.0.2.1, not-an-ip"}}, "127.0.0.1"},
		{"IPv4 with a port", trusted, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"192.0.2.1:61000"}}, "192.0.2.1"},
		{"IPv6 peer and bracketed IPv6 with a port", trusted, "[::1]:5000",
			http.Header{"Forwarded": {`for="[2001:db8::17]:4711", for="[fd00::2]"`}}, "2001:db8::17"},
		{"IPv4-mapped IPv6 peer is IPv4", trusted, "[::ffff:127.0.0.1]:5000", http.Header{"X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1"},
		{"obfuscated Forwarded node", trusted, "127.0.0.1:5000", http.Header{"Forwarded": {"for=_hidden"}}, "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://backend:8080/hub", nil)
			r.RemoteAddr = tc.peer
			r.Header = tc.header
			if got := tc.proxies.clientIP(r); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{" 10.0.0.0/8 ", "192.168.1.7", "fd00::/8", "::1", "10.1.2.3/8", ""})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range got {
		texts = append(texts, p.String())
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128", "10.0.0.0/8"}
	if !slices.Equal(texts, want) {
		t.Errorf("parsed %q, want %q", texts, want)
	}
	got, err = ParseTrustedProxies([]string{"10.0.0.0/8", "10.0.0.0/33", "proxy.internal", "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) || !strings.Contains(err.Error(), `"proxy.internal"`) {
		t.Errorf("err = %v, want one naming both bad entries", err)
	}
	if len(got) != 2 {
		t.Errorf("kept %v, want the two good entries", got)
	}
}

// TestSameOriginBehindProxy: which Origin a request is same-origin with, with and
// without a trusted proxy in front.
func TestSameOriginBehindProxy(t *testing.T) {
	proxies, _ := ParseTrustedProxies([]string{"127.0.0.1"})
	trusted := trustedProxies(proxies)
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		header  http.Header
		origin  string
		want    bool
	}{
		{"direct, same host", trusted, "192.0.2.1:5000", nil, "http://backend:8080", true},
		{"direct, other host", trusted, "192.0.2.1:5000", nil, "https://app.example.com", false},
		{"direct, spoofed X-Forwarded-Host ignored", trusted, "192.0.2.1:5000",
			http.Header{"X-Forwarded-Host": {"app.example.com"}}, "https://app.example.com", false},
		{"trusted, X-Forwarded-Host", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-Host": {"app.example.com"}}, "https://app.example.com", true},
		{"trusted, the rewritten host no longer matches", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-Host": {"app.example.com"}}, "http://backend:8080", false},
		{"trusted, scheme compared when forwarded", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Proto": {"https"}}, "http://app.example.com", false},
		{"trusted, default port", trusted, "127.0.0.1:5000",
			http.Header{"Forwarded": {`host="app.example.com:443";proto=https`}}, "https://app.example.com", true},
		{"trusted, no forwarded host: Host", trusted, "127.0.0.1:5000",
			http.Header{"X-Forwarded-Proto": {"http"}}, "http://backend:8080", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://backend:8080/hub", nil)
			r.RemoteAddr = tc.peer
			if tc.header != nil {
				r.Header = tc.header
			}
			target := tc.proxies.originTarget(r)
			if got := target.matches(tc.origin); got != tc.want {
				t.Errorf("%s same origin as %+v = %v, want %v", tc.origin, target, got, tc.want)
			}
		})
	}
}

// TestLogSampler: one line per interval, and the next line counts those held back.
func TestLogSampler(t *testing.T) {
	var s logSampler
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at             time.Duration
		want           bool
		wantSuppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for _, st := range steps {
		ok, suppressed := s.allow(t0.Add(st.at), time.Second)
		if ok != st.want || suppressed != st.wantSuppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", st.at, ok, suppressed, st.want, st.wantSuppressed)
		}
	}
}

// FuzzForwardingHeaders: any Forwarded and X-Forwarded-* values from a trusted
// proxy are read without a panic or a hang, and the client address is always an
// address: the peer's or one from the chain.
func FuzzForwardingHeaders(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=https;host=app.example.com`, "", "", "")
	f.Add(`for="[2001:db8:cafe::17]:4711", for=unknown;by=_x`, "", "", "")
	f.Add(`host="a\"b;c,d";=x;;, ,for="`, "203.0.113.1, 10.0.0.2", "app.example.com", "wss")
	f.Add("", "192.0.2.1:5000, [::1]:80, garbage", " ,x", "HTTP")
	proxies, _ := ParseTrustedProxies([]string{"127.0.0.1", "10.0.0.0/8", "::1"})
	trusted := trustedProxies(proxies)
	f.Fuzz(func(t *testing.T, fwd, xff, xfh, xfp string) {
		r := httptest.NewRequest("GET", "http://backend:8080/hub", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		for name, v := range map[string]string{"Forwarded": fwd, "X-Forwarded-For": xff, "X-Forwarded-Host": xfh, "X-Forwarded-Proto": xfp} {
			if v != "" {
				r.Header.Set(name, v)
			}
		}
		ip := trusted.clientIP(r)
		if _, ok := parseNode(ip); !ok {
			t.Errorf("clientIP = %q, not an address", ip)
		}
		target := trusted.originTarget(r)
		if target.scheme != "" && target.scheme != "http" && target.scheme != "https" {
			t.Errorf("scheme %q", target.scheme)
		}
		target.matches("http://" + target.host)
	})
}
