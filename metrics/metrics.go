// Package metrics exports a hub's activity to Prometheus: connections by hub and
// transport, negotiations and refusals, messages and bytes in and out, invocation
// latency, server-side closes (slow consumers, timeouts, rate limits) and backplane
// errors, and why clients fell back from a transport (their fallback reports). It
// implements [hub.Observer] and [hub.FallbackObserver]:
//
//	m := metrics.New(prometheus.DefaultRegisterer)
//	chat := hub.New(hub.Options{Name: "chat", Observer: m})
//	http.Handle("/metrics", promhttp.Handler())
package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// Metrics is a [hub.Observer] backed by Prometheus collectors. One value serves many
// hubs: every series carries the hub's name.
type Metrics struct {
	connections   *prometheus.GaugeVec
	negotiations  *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	messagesIn    *prometheus.CounterVec
	messagesOut   *prometheus.CounterVec
	bytesIn       *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	invocations   *prometheus.HistogramVec
	invokeErrors  *prometheus.CounterVec
	closes        *prometheus.CounterVec
	backplaneErrs *prometheus.CounterVec
	linksLost     *prometheus.CounterVec
	resumes       *prometheus.CounterVec
	fallbacks     *prometheus.CounterVec
}

var (
	_ hub.Observer         = (*Metrics)(nil)
	_ hub.FallbackObserver = (*Metrics)(nil)
)

// New creates the collectors and registers them with reg. A second New on the
// same reg shares the first's collectors (one Metrics may as well serve every
// hub); New panics if reg holds other collectors of the same names.
func New(reg prometheus.Registerer) *Metrics {
	hubTransport := []string{"hub", "transport"}
	m := &Metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hubbub_connections", Help: "Open connections (handshake done).",
		}, hubTransport),
		negotiations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_negotiations_total", Help: "Negotiate requests that created a connection.",
		}, []string{"hub"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_refusals_total", Help: "Requests refused by a limit, authentication or the origin check (reason \"origin\").",
		}, []string{"hub", "reason"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_units_received_total", Help: "Units received from clients (WebSocket messages, POST bodies).",
		}, hubTransport),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_messages_sent_total", Help: "Hub protocol messages sent to clients.",
		}, hubTransport),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_received_bytes_total", Help: "Bytes received from clients.",
		}, hubTransport),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_sent_bytes_total", Help: "Bytes sent to clients.",
		}, hubTransport),
		invocations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hubbub_invocation_duration_seconds", Help: "Time hub methods took.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"hub", "method"}),
		invokeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_invocation_errors_total", Help: "Hub methods that ended with an error.",
		}, []string{"hub", "method"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_server_closes_total", Help: "Connections the server closed, by reason.",
		}, []string{"hub", "reason"}),
		backplaneErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_backplane_errors_total", Help: "Backplane operations that failed.",
		}, []string{"hub"}),
		linksLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_links_lost_total", Help: "Links of stateful connections lost, the connection kept for the client to resume.",
		}, hubTransport),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_links_resumed_total", Help: "Stateful connections resumed on a new link.",
		}, hubTransport),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubbub_transport_fallbacks_total",
			Help: "Transports clients left before the one they connected with, by the reason they reported (upgrade-refused, frames-dropped, stream-buffered, requests-cut, failed).",
		}, []string{"hub", "transport", "reason"}),
	}
	m.connections = register(reg, m.connections)
	m.negotiations = register(reg, m.negotiations)
	m.refusals = register(reg, m.refusals)
	m.messagesIn = register(reg, m.messagesIn)
	m.messagesOut = register(reg, m.messagesOut)
	m.bytesIn = register(reg, m.bytesIn)
	m.bytesOut = register(reg, m.bytesOut)
	m.invocations = register(reg, m.invocations)
	m.invokeErrors = register(reg, m.invokeErrors)
	m.closes = register(reg, m.closes)
	m.backplaneErrs = register(reg, m.backplaneErrs)
	m.linksLost = register(reg, m.linksLost)
	m.resumes = register(reg, m.resumes)
	m.fallbacks = register(reg, m.fallbacks)
	return m
}

// register registers c with reg, or returns the same collector a Metrics made
// before on reg registered: hubs built one by one, each with its own New, then
// count into the same series (by hub) instead of panicking. Any other failure
// panics, as MustRegister does.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

func (m *Metrics) Negotiated(h string)              { m.negotiations.WithLabelValues(h).Inc() }
func (m *Metrics) Refused(h, reason string)         { m.refusals.WithLabelValues(h, reason).Inc() }
func (m *Metrics) BackplaneError(h string, _ error) { m.backplaneErrs.WithLabelValues(h).Inc() }

func (m *Metrics) Connected(h string, t transports.Kind) {
	m.connections.WithLabelValues(h, t.String()).Inc()
}

func (m *Metrics) Disconnected(h string, t transports.Kind, _ error) {
	m.connections.WithLabelValues(h, t.String()).Dec()
}

func (m *Metrics) Received(h string, t transports.Kind, bytes int) {
	m.messagesIn.WithLabelValues(h, t.String()).Inc()
	m.bytesIn.WithLabelValues(h, t.String()).Add(float64(bytes))
}

func (m *Metrics) Sent(h string, t transports.Kind, bytes, records int) {
	m.messagesOut.WithLabelValues(h, t.String()).Add(float64(records))
	m.bytesOut.WithLabelValues(h, t.String()).Add(float64(bytes))
}

func (m *Metrics) Invoked(h, method string, d time.Duration, err error) {
	m.invocations.WithLabelValues(h, method).Observe(d.Seconds())
	if err != nil {
		m.invokeErrors.WithLabelValues(h, method).Inc()
	}
}

func (m *Metrics) LinkLost(h string, t transports.Kind) {
	m.linksLost.WithLabelValues(h, t.String()).Inc()
}

func (m *Metrics) Resumed(h string, t transports.Kind) {
	m.resumes.WithLabelValues(h, t.String()).Inc()
}

// Fallback counts a transport a client left; the hub hands on only the stable
// reasons, so the series stay few.
func (m *Metrics) Fallback(h string, left transports.Kind, reason string) {
	m.fallbacks.WithLabelValues(h, left.String(), reason).Inc()
}

func (m *Metrics) Closed(h string, reason error) {
	m.closes.WithLabelValues(h, closeReason(reason)).Inc()
}

// closeReason maps a close cause to a label with few values.
func closeReason(err error) string {
	switch {
	case errors.Is(err, hub.ErrSlowConsumer):
		return "slow_consumer"
	case errors.Is(err, hub.ErrClientTimeout):
		return "client_timeout"
	case errors.Is(err, hub.ErrHandshakeTimeout):
		return "handshake_timeout"
	case errors.Is(err, hub.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, transports.ErrTooLarge):
		return "too_large"
	case errors.Is(err, hub.ErrReconnectTimeout):
		return "reconnect_timeout"
	}
	return "other"
}
