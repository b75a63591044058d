package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/metrics"
)

// Count a hub's activity and serve it to Prometheus. A client connects and calls
// a method twice; the scrape then shows one negotiation, one open connection
// and two invocations.
func Example() {
	reg := prometheus.NewRegistry() // a real program may use prometheus.DefaultRegisterer
	chat := hub.New(hub.Options{Name: "chat", Observer: metrics.New(reg)})
	chat.On("Echo", func(text string) string { return text })

	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)
	mux.Handle("/hubs/chat/", chat)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL+"/hubs/chat", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	for _, text := range []string{"one", "two"} {
		if _, err := conn.Invoke(ctx, "Echo", text); err != nil {
			log.Fatal(err)
		}
	}

	resp, err := http.Get(srv.URL + "/metrics") // what Prometheus scrapes
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		for _, name := range []string{"hubbub_negotiations_total", "hubbub_connections", "hubbub_invocation_duration_seconds_count"} {
			if strings.HasPrefix(lines.Text(), name+"{") {
				fmt.Println(lines.Text())
			}
		}
	}
	// Output:
	// hubbub_connections{hub="chat",transport="WebSockets"} 1
	// hubbub_invocation_duration_seconds_count{hub="chat",method="Echo"} 2
	// hubbub_negotiations_total{hub="chat"} 1
}
