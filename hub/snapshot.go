package hub

import (
	"slices"
	"strings"

	"github.com/hubbub-go/hubbub/transports"
)

// Snapshot is what a hub holds on this node at one moment: its connections and
// its groups, for a dashboard (package admin). Other nodes hold their own.
type Snapshot struct {
	// Transports counts this node's connections by transport.
	Transports map[transports.Kind]int
	// Groups counts the members each group has on this node.
	Groups map[string]int
	// Connections lists this node's connections, sorted by ID, at most as many
	// as Snapshot was asked for.
	Connections []ConnInfo
}

// ConnInfo describes one connection.
type ConnInfo struct {
	ID        string
	UserID    string
	Transport transports.Kind
}

// Snapshot returns what the hub holds on this node, listing at most
// maxConnections connections (counts are always whole). It takes the hub's
// index lock for the copy only: cheap enough once a second, not per message.
func (h *Hub) Snapshot(maxConnections int) Snapshot {
	s := Snapshot{Transports: map[transports.Kind]int{}, Groups: map[string]int{}}
	h.mu.RLock()
	for _, c := range h.conns {
		s.Transports[c.kind]++
		if len(s.Connections) < maxConnections {
			s.Connections = append(s.Connections, ConnInfo{ID: c.id, UserID: c.session.identity.UserID, Transport: c.kind})
		}
	}
	for g, members := range h.groups {
		s.Groups[g] = len(members)
	}
	h.mu.RUnlock()
	slices.SortFunc(s.Connections, func(a, b ConnInfo) int { return strings.Compare(a.ID, b.ID) })
	return s
}

// UserConnections returns this node's connections of one user.
func (h *Hub) UserConnections(userID string) []*Conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Conn, 0, len(h.users[userID]))
	for _, c := range h.users[userID] {
		out = append(out, c)
	}
	return out
}
