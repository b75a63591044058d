package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Clients selects the connections a message goes to. Get one from [Hub.Clients]
// (anywhere: a background goroutine, a REST handler) or [Context.Clients] (in a
// handler, where Caller and Others make sense).
type Clients struct {
	hub    *Hub
	caller string
	// proto is the caller's protocol, that of the protocol.RawValue arguments
	// (nil: JSON, outside a handler).
	proto protocol.Protocol
}

func (c Clients) target(kind SelectorKind, ids []string, except ...string) Target {
	return Target{hub: c.hub, sel: Selector{Kind: kind, IDs: ids, Except: except}, src: c.proto}
}

// All is every connection of the hub.
func (c Clients) All() Target { return c.target(SelectAll, nil) }

// AllExcept is every connection but those listed.
func (c Clients) AllExcept(connectionIDs ...string) Target {
	return c.target(SelectAll, nil, connectionIDs...)
}

// Caller is the calling connection (nobody outside a handler).
func (c Clients) Caller() Target { return c.target(SelectConnections, []string{c.caller}) }

// Others is every connection but the caller.
func (c Clients) Others() Target { return c.target(SelectAll, nil, c.caller) }

// Client is one connection.
func (c Clients) Client(connectionID string) Target {
	return c.target(SelectConnections, []string{connectionID})
}

// Clients is the connections listed.
func (c Clients) Clients(connectionIDs ...string) Target {
	return c.target(SelectConnections, connectionIDs)
}

// Group is every member of a group.
func (c Clients) Group(name string) Target { return c.target(SelectGroups, []string{name}) }

// GroupExcept is every member of a group but the connections listed.
func (c Clients) GroupExcept(name string, connectionIDs ...string) Target {
	return c.target(SelectGroups, []string{name}, connectionIDs...)
}

// Groups is every member of any of the groups (each connection once).
func (c Clients) Groups(names ...string) Target { return c.target(SelectGroups, names) }

// OthersInGroup is every member of a group but the caller.
func (c Clients) OthersInGroup(name string) Target {
	return c.target(SelectGroups, []string{name}, c.caller)
}

// User is every connection of one user (all their tabs and devices).
func (c Clients) User(userID string) Target { return c.target(SelectUsers, []string{userID}) }

// Users is every connection of the users listed.
func (c Clients) Users(userIDs ...string) Target { return c.target(SelectUsers, userIDs) }

// Target is a set of receivers, chosen by [Clients].
type Target struct {
	hub *Hub
	sel Selector
	src protocol.Protocol // see Clients.proto
}

// Send invokes method with args on every receiver. It returns once the message is
// queued for the local receivers and handed to the backplane for the others; it
// never waits for a client. Arguments are encoded at most once per hub protocol
// (JSON, MessagePack), whatever the number of receivers; a []byte is base64
// under JSON and bin under MessagePack. A [protocol.RawValue] argument is taken to
// be JSON, or in the caller's protocol when the [Target] comes from
// [Context.Clients]. When the backplane delivered on this node but could not
// reach the others, the error wraps [ErrClusterDelivery] (and the backplane's cause); a
// handler may return it as is: the client reads that its message went out on
// this server only.
func (t Target) Send(ctx context.Context, method string, args ...any) error {
	raw, err := encodeArgs(protocol.JSON, t.src, args)
	if err != nil {
		return fmt.Errorf("hub: send %q: %w", method, err)
	}
	env := &Envelope{Hub: t.hub.opts.Name, Selector: t.sel, Method: method, Args: make([]json.RawMessage, len(raw)), values: args, src: t.src}
	for i, r := range raw {
		env.Args[i] = json.RawMessage(r)
	}
	if t.sel.Kind == SelectConnections && t.hub.allLocal(t.sel.IDs) {
		t.hub.deliver(env)
		return nil
	}
	if _, inProcess := t.hub.backplane.(*MemoryBackplane); !inProcess {
		// Other nodes get the arguments in every protocol's form: each frames
		// them for its receivers without decoding (see Envelope).
		if err := env.encodeAll(); err != nil {
			return fmt.Errorf("hub: send %q: %w", method, err)
		}
	}
	if err := t.publish(ctx, env); err != nil {
		t.hub.opts.Observer.BackplaneError(t.hub.opts.Name, err)
		if ctx.Err() == nil {
			t.hub.outage.failed(t.hub, err)
		}
		return fmt.Errorf("hub: send %q: %w", method, err)
	}
	t.hub.outage.worked(t.hub)
	return nil
}

// Groups manages group membership. Groups exist while they have members.
type Groups struct {
	hub *Hub
}

// Add puts a connection of this node in a group. Adding twice is harmless.
func (g Groups) Add(ctx context.Context, connectionID, group string) error {
	h := g.hub
	h.mu.Lock()
	c := h.conns[connectionID]
	if c == nil {
		h.mu.Unlock()
		return fmt.Errorf("hub: add %s to group %q: %w", connectionID, group, ErrConnectionNotFound)
	}
	if _, in := c.groups[group]; !in && len(c.groups) >= h.opts.MaxGroupsPerConnection {
		h.mu.Unlock()
		h.logSampled(slog.LevelInfo, "hub: group limit reached", "hub", h.opts.Name, "connection", connectionID, "limit", h.opts.MaxGroupsPerConnection)
		return fmt.Errorf("hub: add %s to group %q: %w", connectionID, group, ErrTooManyGroups)
	}
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	_, already := c.groups[group]
	c.groups[group] = struct{}{}
	index(h.groups, group, c)
	h.mu.Unlock()
	if !already {
		// Before the presence record: once Add returns, a message any node sends
		// to the group reaches the connection.
		if err := h.addInterest(ctx, interestKey{SelectGroups, group}); err != nil {
			return fmt.Errorf("hub: add %s to group %q: %w", connectionID, group, err)
		}
	}
	if err := h.backplane.AddToGroup(ctx, h.opts.Name, group, connectionID); err != nil {
		return fmt.Errorf("hub: add %s to group %q: %w", connectionID, group, err)
	}
	return nil
}

// Remove takes a connection of this node out of a group.
func (g Groups) Remove(ctx context.Context, connectionID, group string) error {
	h := g.hub
	h.mu.Lock()
	c := h.conns[connectionID]
	if c == nil {
		h.mu.Unlock()
		return fmt.Errorf("hub: remove %s from group %q: %w", connectionID, group, ErrConnectionNotFound)
	}
	_, was := c.groups[group]
	delete(c.groups, group)
	unindex(h.groups, group, c)
	h.mu.Unlock()
	if was {
		h.removeInterest(interestKey{SelectGroups, group})
	}
	if err := h.backplane.RemoveFromGroup(ctx, h.opts.Name, group, connectionID); err != nil {
		return fmt.Errorf("hub: remove %s from group %q: %w", connectionID, group, err)
	}
	return nil
}

// Members returns the sorted IDs of the connections in a group, on every node.
func (g Groups) Members(ctx context.Context, group string) ([]string, error) {
	ids, err := g.hub.backplane.GroupMembers(ctx, g.hub.opts.Name, group)
	if err != nil {
		return nil, fmt.Errorf("hub: members of group %q: %w", group, err)
	}
	return ids, nil
}

func index(m map[string]map[string]*Conn, key string, c *Conn) {
	set := m[key]
	if set == nil {
		set = map[string]*Conn{}
		m[key] = set
	}
	set[c.id] = c
}

func unindex(m map[string]map[string]*Conn, key string, c *Conn) {
	if set := m[key]; set != nil {
		delete(set, c.id)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}
