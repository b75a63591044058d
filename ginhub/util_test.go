package ginhub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hubbub-go/hubbub/hub"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// decodeNegotiation returns the connection token of a negotiate response, which
// must be a 200.
func decodeNegotiation(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var n struct{ ConnectionToken string }
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil || resp.StatusCode != http.StatusOK || n.ConnectionToken == "" {
		t.Fatalf("negotiate: %d, %v", resp.StatusCode, err)
	}
	return n.ConnectionToken
}

// serve starts r on a loopback test server and returns its URL; when the test
// ends it closes h (which ends the connections it took over), then the server.
func serve(t *testing.T, r *gin.Engine, h *hub.Hub) string {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		h.Close(ctx)
		srv.Close()
	})
	return srv.URL
}
