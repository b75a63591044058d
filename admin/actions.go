package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// The actions a page asks for, which every node receives.
const (
	actDisconnect     = "disconnect"      // Target: a connection ID
	actDisconnectUser = "disconnect-user" // Target: a user ID
	actHistory        = "history"         // Target: the admin connection to send samples to
	actWatch          = "watch"           // a page is open: push snapshots for a while
	actLogout         = "logout"          // Target: a session ID; Until: its expiry
)

// action travels as the one argument of an envelope on the admin hub's
// backplane, under the hub name HubName+".actions", to every node.
type action struct {
	Kind   string `json:"kind"`
	Hub    string `json:"hub,omitempty"`
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	Until  int64  `json:"until,omitempty"` // Unix seconds
}

// Acted is what a node that acted tells the pages (client method "acted").
type Acted struct {
	Node   string `json:"node"`
	Kind   string `json:"kind"`
	Hub    string `json:"hub"`
	Target string `json:"target"`
	Closed int    `json:"closed"` // connections closed on that node
}

// disconnect checks a disconnect the page asks for, then acts.
func (d *Dashboard) disconnect(ctx context.Context, a action) error {
	if a.Target == "" {
		what := "connection ID"
		if a.Kind == actDisconnectUser {
			what = "user ID" // anonymous connections have none: nothing to name them by
		}
		return hub.NewError("admin: %s: no %s", a.Kind, what)
	}
	if len(a.Reason) > d.opts.MaxReasonBytes {
		return hub.NewError("admin: the close reason is %d bytes, over the limit of %d", len(a.Reason), d.opts.MaxReasonBytes)
	}
	return d.act(ctx, a)
}

// act publishes a to every node, this one included.
func (d *Dashboard) act(ctx context.Context, a action) error {
	env := &hub.Envelope{
		Hub:      d.opts.HubName + ".actions",
		Selector: hub.Selector{Kind: hub.SelectAll},
		Method:   "action",
		Args:     []json.RawMessage{encodeJSON(a)},
	}
	if err := d.opts.Backplane.Publish(ctx, env); err != nil {
		return fmt.Errorf("admin: %s: %w", a.Kind, err)
	}
	return nil
}

// deliverAction runs on every node for every action: the node that holds the
// connections acts. It must not block (a backplane's delivery goroutine calls it).
func (d *Dashboard) deliverAction(env *hub.Envelope) {
	if env.Method != "action" || len(env.Args) != 1 {
		return
	}
	var a action
	if err := json.Unmarshal(env.Args[0], &a); err != nil {
		d.opts.Logger.Warn("admin: bad action", "err", err)
		return
	}
	switch a.Kind {
	case actHistory:
		d.onWatch()
		go d.sendHistory(context.Background(), a.Target)
		return
	case actWatch:
		d.onWatch()
		return
	case actLogout:
		d.revoked.add(a.Target, time.Unix(a.Until, 0), time.Now())
		d.closeSession(a.Target)
		return
	}
	for _, h := range d.hubs() {
		if h.Name() != a.Hub {
			continue
		}
		var conns []*hub.Conn
		switch a.Kind {
		case actDisconnect:
			if c, ok := h.Conn(a.Target); ok {
				conns = append(conns, c)
			}
		case actDisconnectUser:
			conns = h.UserConnections(a.Target)
		}
		for _, c := range conns {
			// The reason is the Close message's error: clients show it
			// (the bundled client's onclose error reads "hubbub: server closed: <reason>").
			c.Close(a.Reason, false)
		}
		if len(conns) > 0 {
			d.opts.Logger.Info("admin: disconnected", "hub", a.Hub, "kind", a.Kind, "target", a.Target, "reason", a.Reason, "closed", len(conns))
			acted := Acted{Node: d.opts.Node, Kind: a.Kind, Hub: a.Hub, Target: a.Target, Closed: len(conns)}
			go func() {
				_ = d.admin.Clients().All().Send(context.Background(), "acted", acted)
			}()
		}
	}
}
