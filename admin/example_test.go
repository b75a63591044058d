package admin_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/metrics"
)

// The dashboard beside Prometheus metrics, on a hub of your own (the README's
// "Admin dashboard" section).
func Example() {
	var bp hub.Backplane // the hubs' backplane (Redis, NATS), or nil: one node
	reg := prometheus.NewRegistry()
	dash, err := admin.New(admin.Options{Password: "from a secret store", Backplane: bp})
	if err != nil {
		panic(err)
	}
	chat := hub.New(hub.Options{Name: "chat", Backplane: bp, Observer: hub.Observers(metrics.New(reg), dash)})
	dash.Watch(chat)
	dash.Start()
	defer dash.Close()

	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)
	mux.Handle("/admin", dash)
	mux.Handle("/admin/", dash) // the page, /admin/login, /admin/hub
	_ = mux
}
