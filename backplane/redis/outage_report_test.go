package redis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// TestSendDuringOutageReportsLocalDelivery kills this test's own Redis and sends
// to all, from a handler and from outside one: the node's own clients get every
// message, the sender learns that local delivery happened and only the cluster
// delivery failed (errors.Is hub.ErrClusterDelivery; the invoking client reads
// so in its Completion), and the outage is logged once for all the sends, its
// end once when Redis is back.
func TestSendDuringOutageReportsLocalDelivery(t *testing.T) {
	rs := startOwnRedis(t)
	logs, logger := newLogCounter()
	opts := redis.Options{URL: rs.url(), Prefix: "hubbub-outage-report", Logger: logger}
	fastBackplane(&opts)
	bp, err := redis.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	h := conformance.NewHub(hub.Options{Backplane: bp, Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", h)
	mux.Handle("/hubs/conformance/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bp.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/hubs/conformance"
	sender := dial(t, base, "sender", transports.WebSockets)
	receiver := dial(t, base, "receiver", transports.LongPolling)

	rs.kill()
	waitFor(t, "the backplane to notice the outage", func() bool { return !bp.Healthy() })

	const sends = 5
	for i := range sends {
		_, err := sender.Invoke("Broadcast", "during", i)
		const want = "Delivered on this server only: the message could not reach the other servers of the cluster."
		if err == nil || err.Error() != want {
			t.Errorf("Broadcast %d during the outage: completion error %v, want %q", i, err, want)
		}
		for _, cl := range []*testClient{sender, receiver} {
			if arg, _ := cl.Expect(t, "during"); arg != strconv.Itoa(i) {
				t.Errorf("%s got during(%s), want during(%d)", cl.Kind, arg, i)
			}
		}
	}
	err = h.Clients().All().Send(context.Background(), "outside", 1)
	if !errors.Is(err, hub.ErrClusterDelivery) || !errors.Is(err, redis.ErrUnavailable) {
		t.Errorf("Send from outside a handler during the outage: %v, want errors.Is hub.ErrClusterDelivery and redis.ErrUnavailable", err)
	}
	receiver.Expect(t, "outside")
	if got := logs.count("hub: backplane unavailable"); got != 1 {
		t.Errorf(`"hub: backplane unavailable" logged %d times for %d sends, want once`, got, sends+1)
	}
	if got := logs.count("hub: method failed"); got != 0 {
		t.Errorf(`"hub: method failed" logged %d times, want none: the failure is reported to the caller`, got)
	}

	rs.start()
	waitFor(t, "the backplane to reconnect", func() bool { return bp.Healthy() })
	sender.MustInvoke(t, "Broadcast", "after", 1)
	receiver.Expect(t, "after")
	if got := logs.count("hub: backplane available again"); got != 1 {
		t.Errorf(`"hub: backplane available again" logged %d times, want once`, got)
	}
	if got := logs.count("failed_sends=6"); got != 1 {
		t.Errorf("the recovery line does not count the %d failed sends:\n%s", sends+1, logs.lines("hub: backplane"))
	}
}

// lines returns the log lines that contain substr.
func (lc *logCounter) lines(substr string) string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var out []string
	for _, l := range strings.Split(lc.buf.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
