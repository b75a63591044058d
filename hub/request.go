package hub

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
)

// keptRequest is what a Conn keeps of the request that opened its transport, for
// Conn.Request: the method, URL, headers, host, remote address, TLS state and
// context (for its values), with every string a slice of one allocation.
//
// Keeping an *http.Request instead, even an empty one, costs an idle connection
// about 2 KiB more than its size: requests are allocated by the dozen while
// connections open, and one kept among them keeps a mostly empty page of the heap
// alive. Conn.Request builds a fresh *http.Request from this on each call.
type keptRequest struct {
	// blob holds, back to back, the keptFields fields (method, proto, host,
	// remote address, request URI, then the URL's), then the headers as key,
	// value pairs, in the request's order per key; ends has where each one ends.
	// Offsets of 4 bytes rather than a string header of 16 each: about 200
	// bytes per connection.
	blob                   string
	ends                   []uint32
	tls                    *tls.ConnectionState
	ctx                    context.Context
	protoMajor, protoMinor uint8 // HTTP/1.1 and 2: an int each would cost 16 bytes
}

// keptFields is the number of request and URL fields at the start of a
// keptRequest.
const keptFields = 13

// str is the i-th string of k: a field below keptFields, a header key or value
// above.
func (k *keptRequest) str(i int) string {
	start := uint32(0)
	if i > 0 {
		start = k.ends[i-1]
	}
	return k.blob[start:k.ends[i]]
}

func keepRequest(r *http.Request) keptRequest {
	u := r.URL
	fields := [keptFields]string{r.Method, r.Proto, r.Host, r.RemoteAddr, r.RequestURI,
		u.Scheme, u.Opaque, u.Host, u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment}
	size, pairs := 0, 0
	for _, s := range fields {
		size += len(s)
	}
	for k, v := range r.Header {
		if !transportHeaders[k] {
			pairs += len(v)
			for _, s := range v {
				size += len(k) + len(s)
			}
		}
	}
	var b strings.Builder
	b.Grow(size)
	ends := make([]uint32, 0, len(fields)+2*pairs)
	add := func(s string) { b.WriteString(s); ends = append(ends, uint32(b.Len())) }
	for _, s := range fields {
		add(s)
	}
	for k, v := range r.Header {
		if !transportHeaders[k] {
			for _, s := range v {
				add(k)
				add(s)
			}
		}
	}
	return keptRequest{
		blob: b.String(), ends: ends, tls: r.TLS, ctx: context.WithoutCancel(r.Context()),
		protoMajor: uint8(r.ProtoMajor), protoMinor: uint8(r.ProtoMinor),
	}
}

// request builds a fresh *http.Request from k.
func (k *keptRequest) request() *http.Request {
	f := k.str
	r := &http.Request{
		Method: f(0), Proto: f(1), Host: f(2), RemoteAddr: f(3), RequestURI: f(4),
		ProtoMajor: int(k.protoMajor), ProtoMinor: int(k.protoMinor), TLS: k.tls, Body: http.NoBody,
		URL: &url.URL{Scheme: f(5), Opaque: f(6), Host: f(7), Path: f(8), RawPath: f(9),
			RawQuery: f(10), Fragment: f(11), RawFragment: f(12)},
		Header: make(http.Header, (len(k.ends)-keptFields)/2),
	}
	for i := keptFields; i+1 < len(k.ends); i += 2 {
		key := f(i)
		r.Header[key] = append(r.Header[key], f(i+1))
	}
	return r.WithContext(k.ctx)
}

// transportHeaders are request headers of the transport's own, which a kept request
// leaves out.
var transportHeaders = map[string]bool{
	"Connection": true, "Upgrade": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true, "Content-Length": true, "Content-Type": true,
}
