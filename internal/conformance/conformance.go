// Package conformance is the fixed hub that tests, benchmarks and outside clients
// rely on (docs/conformance-hub.md). Its method names and
// meanings never change: clients nobody in this project wrote are run against it.
package conformance

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// UserFromRequest is the identity rule of the open conformance hub: the "user" query
// parameter, else the X-Hubbub-User header. It lets test clients act as users
// without a login; it is for the conformance hub only (the secure copy uses JWT).
func UserFromRequest(r *http.Request) string {
	// Runs on every request: parse the query only when it may name a user.
	if strings.Contains(r.URL.RawQuery, "user") {
		if u := r.URL.Query().Get("user"); u != "" {
			return u
		}
	}
	if u := r.Header.Get("X-Hubbub-User"); u != "" {
		return u
	}
	return hub.UserIDFromContext(r.Context())
}

// NewHub returns the conformance hub. When opts.UserID is nil it uses UserFromRequest.
// opts.Name defaults to "conformance".
func NewHub(opts hub.Options) *hub.Hub {
	if opts.Name == "" {
		opts.Name = "conformance"
	}
	if opts.UserID == nil {
		opts.UserID = UserFromRequest
	}
	h := hub.New(opts)
	Register(h)
	return h
}

// Whoami is the result of the Whoami method.
type Whoami struct {
	ConnectionID string  `json:"connectionId"`
	UserID       *string `json:"userId"`
	Transport    string  `json:"transport"`
}

// Register adds the conformance methods to h.
func Register(h *hub.Hub) {
	h.On("Echo", func(value protocol.RawValue) protocol.RawValue { return value })
	// A typed []byte: base64 under JSON, bin under MessagePack.
	h.On("EchoBytes", func(data []byte) []byte { return data })
	h.On("Add", func(a, b int64) int64 { return a + b })
	h.On("Fail", func(message string) error { return hub.NewError("%s", message) })
	h.On("Whoami", func(ctx *hub.Context) Whoami {
		w := Whoami{ConnectionID: ctx.ConnectionID(), Transport: ctx.Transport().String()}
		if id := ctx.UserID(); id != "" {
			w.UserID = &id
		}
		return w
	})
	h.On("Broadcast", func(ctx *hub.Context, event string, payload protocol.RawValue) error {
		return ctx.Clients().All().Send(ctx, event, payload)
	})
	h.On("SendToCaller", func(ctx *hub.Context, event string, payload protocol.RawValue) error {
		return ctx.Clients().Caller().Send(ctx, event, payload)
	})
	h.On("SendToOthers", func(ctx *hub.Context, event string, payload protocol.RawValue) error {
		return ctx.Clients().Others().Send(ctx, event, payload)
	})
	h.On("JoinGroup", func(ctx *hub.Context, group string) error {
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), group)
	})
	h.On("LeaveGroup", func(ctx *hub.Context, group string) error {
		return ctx.Groups().Remove(ctx, ctx.ConnectionID(), group)
	})
	h.On("SendToGroup", func(ctx *hub.Context, group, event string, payload protocol.RawValue) error {
		return ctx.Clients().Group(group).Send(ctx, event, payload)
	})
	h.On("SendToConnection", func(ctx *hub.Context, connectionID, event string, payload protocol.RawValue) error {
		return ctx.Clients().Client(connectionID).Send(ctx, event, payload)
	})
	h.On("SendToUser", func(ctx *hub.Context, userID, event string, payload protocol.RawValue) error {
		return ctx.Clients().User(userID).Send(ctx, event, payload)
	})
	h.On("GroupMembers", func(ctx *hub.Context, group string) ([]string, error) {
		return ctx.Groups().Members(ctx, group)
	})
	h.On("Counter", func(ctx *hub.Context, count, delayMs int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := 0; i < count; i++ {
				if i > 0 && !sleep(ctx, time.Duration(delayMs)*time.Millisecond) {
					return
				}
				if !yield(i) {
					return
				}
			}
		}
	})
	h.On("Sum", func(ctx *hub.Context, numbers <-chan float64) (float64, error) {
		var sum float64
		for {
			select {
			case n, ok := <-numbers:
				if !ok {
					return sum, nil
				}
				sum += n
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	})
	h.On("InvokeCaller", func(ctx *hub.Context, method string, argument protocol.RawValue) (protocol.RawValue, error) {
		result, err := ctx.Conn().Invoke(ctx, method, argument)
		if clientErr := (*hub.ClientError)(nil); errors.As(err, &clientErr) {
			// The client's own words reach the caller (other errors stay hidden).
			return nil, hub.NewError("%s", clientErr.Message)
		}
		return result, err
	})
	h.On("Disconnect", func(ctx *hub.Context, allowReconnect bool) {
		conn := ctx.Conn()
		// Close once this invocation has completed, so the caller gets its
		// Completion before the Close message.
		go func() {
			<-ctx.Done()
			conn.Close("", allowReconnect)
		}()
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
