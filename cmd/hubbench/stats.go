package main

import (
	"bytes"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a lock-free latency histogram: buckets of 1/16 of a power of two of
// nanoseconds (about 6% resolution), from 1 µs to about 70 s.
type histogram struct {
	buckets [64 * 16]atomic.Int64
	count   atomic.Int64
	max     atomic.Int64
}

func (h *histogram) record(d time.Duration) {
	ns := max(int64(d), 1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			break
		}
	}
	h.buckets[bucketOf(ns)].Add(1)
}

func bucketOf(ns int64) int {
	if ns < 16 {
		return int(ns)
	}
	exp := 63 - bits.LeadingZeros64(uint64(ns)) // ns in [2^exp, 2^(exp+1))
	sub := (ns >> (exp - 4)) & 15
	return min(exp*16+int(sub), len(histogram{}.buckets)-1)
}

// bucketValue is the upper bound of bucket i.
func bucketValue(i int) int64 {
	if i < 16 {
		return int64(i)
	}
	exp, sub := i/16, int64(i%16)
	return (16 + sub + 1) << (exp - 4)
}

// quantile returns the q-quantile (0..1) in nanoseconds.
func (h *histogram) quantile(q float64) int64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(bucketValue(i), h.max.Load())
		}
	}
	return h.max.Load()
}

// latency is a histogram's summary, in milliseconds.
type latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

func (h *histogram) summary() latency {
	ms := func(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	return latency{Count: h.count.Load(), P50: ms(h.quantile(.5)), P90: ms(h.quantile(.9)), P99: ms(h.quantile(.99)), Max: ms(h.max.Load())}
}

// maxSeq bounds the broadcasts of one measurement.
const maxSeq = 1 << 20

// sink counts what subscribers receive: every payload carries "B|<seq>|<unix ns>|",
// whatever the protocol around it, so one scanner serves every target.
type sink struct {
	epoch     time.Time
	need      int32 // receivers per message
	counts    []atomic.Int32
	delivered atomic.Int64
	bytes     atomic.Int64 // hub-protocol bytes received (the units' sizes)
	units     atomic.Int64 // units received: WebSocket messages, SSE events, poll bodies
	errors    atomic.Int64
	firstErr  atomic.Pointer[string] // what the first error said, for the result's note
	ackDelay  time.Duration          // stateful subscribers: the ack timer (0: ackDelay, 1 s)
	ackBytes  int                    // stateful subscribers: eager ack threshold (0: ackEagerBytes)
	// ackRetries counts stateful acks sent again after the network cut their POST.
	ackRetries atomic.Int64
	connected  atomic.Int64
	closing    atomic.Bool               // the measurement is over: ends are not errors
	lat        atomic.Pointer[histogram] // the current measurement's latencies
	progress   chan struct{}
}

func newSink() *sink {
	s := &sink{epoch: time.Now(), counts: make([]atomic.Int32, maxSeq), progress: make(chan struct{}, 1)}
	s.lat.Store(new(histogram))
	return s
}

// fail counts an error of a subscriber and keeps the first one's text.
func (s *sink) fail(err error) {
	s.errors.Add(1)
	msg := err.Error()
	s.firstErr.CompareAndSwap(nil, &msg)
}

// firstError is the text of the first error, or "".
func (s *sink) firstError() string {
	if p := s.firstErr.Load(); p != nil {
		return *p
	}
	return ""
}

var marker = []byte(`B|`)

// onData scans one received unit for payloads.
func (s *sink) onData(b []byte) {
	now := time.Now().UnixNano()
	lat := s.lat.Load()
	for {
		i := bytes.Index(b, marker)
		if i < 0 {
			return
		}
		b = b[i+2:]
		seq, rest, ok := parseNum(b)
		if !ok {
			continue
		}
		ts, rest, ok := parseNum(rest)
		if !ok {
			continue
		}
		b = rest
		lat.record(time.Duration(now - ts))
		s.delivered.Add(1)
		if seq < maxSeq {
			if s.counts[seq].Add(1) == s.need {
				select {
				case s.progress <- struct{}{}:
				default:
				}
			}
		}
	}
}

// parseNum reads decimal digits up to a '|'.
func parseNum(b []byte) (int64, []byte, bool) {
	var n int64
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
		case c == '|' && i > 0:
			return n, b[i+1:], true
		default:
			return 0, b, false
		}
	}
	return 0, b, false
}

// payloadSize is the size of every broadcast payload, as in the baseline run.
const payloadSize = 128

// appendPayload appends a 128-byte payload "B|seq|unixnano|xxx…" (JSON-string safe).
func appendPayload(dst []byte, seq int64, now time.Time) []byte {
	start := len(dst)
	dst = append(dst, "B|"...)
	dst = appendInt(dst, seq)
	dst = append(dst, '|')
	dst = appendInt(dst, now.UnixNano())
	dst = append(dst, '|')
	for len(dst)-start < payloadSize {
		dst = append(dst, 'x')
	}
	return dst
}

func appendInt(dst []byte, n int64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}
