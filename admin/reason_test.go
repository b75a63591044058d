package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// TestReasonBound: a close reason over admin.DefaultMaxReasonBytes is refused
// with an error the page shows, and closes nothing; one at the limit reaches
// the client whole.
func TestReasonBound(t *testing.T) {
	n := startNode(t, "n1", hub.NewMemoryBackplane())
	adm, _ := adminClient(t, n.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, method := range []string{"Disconnect", "DisconnectUser"} {
		t.Run(method, func(t *testing.T) {
			user := "u-" + method
			c := dial(t, n.srv.URL+"/hubs/chat?user="+user, transports.WebSockets, nil)
			target := user
			if method == "Disconnect" {
				target = c.ConnectionID()
			}
			long := strings.Repeat("x", admin.DefaultMaxReasonBytes+1)
			if _, err := adm.Invoke(ctx, method, "chat", target, long); err == nil || !strings.Contains(err.Error(), "reason") {
				t.Errorf("a %d-byte reason: %v, want an error about the reason", len(long), err)
			}
			atLimit := strings.Repeat("é", admin.DefaultMaxReasonBytes/2)
			if _, err := adm.Invoke(ctx, method, "chat", target, atLimit); err != nil {
				t.Fatalf("a %d-byte reason: %v", len(atLimit), err)
			}
			wantClosed(t, c, atLimit) // not with the long one
		})
	}
}

// TestDisconnectBadArguments: a disconnect the page (or a script) asks for
// wrongly gets an error saying what is wrong, not a silent success.
func TestDisconnectBadArguments(t *testing.T) {
	n := startNode(t, "n1", hub.NewMemoryBackplane())
	adm, _ := adminClient(t, n.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		method string
		args   []any
		want   string
	}{
		{"Disconnect", []any{"chat", "", "bye"}, "connection ID"},
		{"DisconnectUser", []any{"chat", "", "bye"}, "user ID"},
		{"Disconnect", []any{"chat", "x"}, "expects 3"},
		{"DisconnectUser", []any{"chat", 7, "bye"}, "cannot be read as string"},
	} {
		if _, err := adm.Invoke(ctx, tc.method, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s%q: %v, want an error with %q", tc.method, tc.args, err, tc.want)
		}
	}
}
