package hub

import (
	"context"
	"iter"
	"slices"
)

// InterestRouter is an optional interface of a [Backplane] that routes by interest:
// instead of handing every envelope of a hub to every node, it delivers one to
// the nodes that hold a receiver it may select. Such a backplane must know which
// groups, users and connections this node has receivers in, and the hub tells it:
//
//   - AddInterest when a local connection completes its handshake (its connection
//     ID, and its user's ID unless anonymous) and when it joins a group it was not
//     in ([Groups.Add]);
//   - RemoveInterest when it leaves a group ([Groups.Remove]) and when it ends (its
//     connection ID, its user, every group it was still in).
//
// The hub calls it once per receiver, not only for the first and the last: the
// backplane counts them per key and subscribes on the first, unsubscribes after
// the last. So calls from concurrent joins and leaves may reach it in any order (a
// remove may come before its add: the count goes below zero and back), and a
// join that is not the first still waits for the subscription another join
// started.
//
// AddInterest returns once envelopes published for key by any node reach this
// node (the subscription is live on the server): Groups.Add and the handshake
// wait for it, so that a message sent to a group by another node once the join
// has returned, or to a connection once its client is connected, is not lost.
// An error means it could not confirm that (an outage): the receiver is known to
// the backplane all the same, which catches up when it can, and the hub reports
// the error (Groups.Add returns it; a handshake logs it through
// [Observer.BackplaneError]).
//
// Publish then chooses the nodes by the [Selector]'s kind: [SelectAll] goes to every
// node; a selector of several IDs goes once per ID, each with one ID in IDs. For
// a [Clients.Groups] target a connection in several of the groups must get the envelope
// once: the envelope of the i-th group carries the groups before it in
// ExceptGroups, and the hub skips their members. Except stays a filter of the
// receiving hub.
//
// Implementations must be safe for concurrent use.
type InterestRouter interface {
	// AddInterest records one more local receiver under key (a group name, a user
	// ID or a connection ID, as kind says) of hubName.
	AddInterest(ctx context.Context, hubName string, kind SelectorKind, key string) error
	// RemoveInterest records one local receiver fewer under key. It must not block.
	RemoveInterest(hubName string, kind SelectorKind, key string)
}

// SplitByKey yields env as an [InterestRouter] publishes it, each part with the
// key it goes to: env itself for [SelectAll] (key "") and for a single ID, else
// one envelope per distinct ID with that ID alone in IDs. The envelope of the
// i-th group carries the groups before it in ExceptGroups, so that a member of
// several gets the message once. The parts share env's encoded arguments.
func (env *Envelope) SplitByKey() iter.Seq2[string, *Envelope] {
	return func(yield func(string, *Envelope) bool) {
		sel := env.Selector
		switch {
		case sel.Kind == SelectAll:
			yield("", env)
			return
		case len(sel.IDs) == 1:
			yield(sel.IDs[0], env)
			return
		}
		var before []string
		for i, id := range sel.IDs {
			if slices.Contains(sel.IDs[:i], id) {
				continue
			}
			part := *env
			part.Selector = Selector{Kind: sel.Kind, IDs: []string{id}, Except: sel.Except}
			if sel.Kind == SelectGroups {
				part.Selector.ExceptGroups = append(slices.Clip(sel.ExceptGroups), before...)
				before = append(before, id)
			}
			if !yield(id, &part) {
				return
			}
		}
	}
}

// interestKey is a receiver under a key, for InterestRouter.
type interestKey struct {
	kind SelectorKind
	key  string
}

// addInterest tells an InterestRouter backplane about local receivers.
func (h *Hub) addInterest(ctx context.Context, keys ...interestKey) error {
	r, ok := h.backplane.(InterestRouter)
	if !ok {
		return nil
	}
	var first error
	for _, k := range keys {
		if err := r.AddInterest(ctx, h.opts.Name, k.kind, k.key); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// removeInterest tells an InterestRouter backplane that receivers are gone.
func (h *Hub) removeInterest(keys ...interestKey) {
	if r, ok := h.backplane.(InterestRouter); ok {
		for _, k := range keys {
			r.RemoveInterest(h.opts.Name, k.kind, k.key)
		}
	}
}

// connInterest is what a connection is a receiver under besides its groups.
func connInterest(c *Conn) []interestKey {
	keys := []interestKey{{SelectConnections, c.id}}
	if id := c.UserID(); id != "" {
		keys = append(keys, interestKey{SelectUsers, id})
	}
	return keys
}
