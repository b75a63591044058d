package ginhub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
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
