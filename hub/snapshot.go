package hub

import (
	"container/heap"
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
	// as Snapshot was asked for: the first by ID, so that the same ones are
	// listed from one snapshot to the next.
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
	// The first maxConnections by ID: a max-heap of them, whose top a smaller
	// ID replaces (map order would list another few each time).
	top := connHeap{}
	h.mu.RLock()
	for _, c := range h.conns {
		s.Transports[c.kind]++
		switch {
		case maxConnections <= 0:
		case len(top) < maxConnections:
			top = append(top, ConnInfo{ID: c.id, UserID: c.session.identity.UserID, Transport: c.kind})
			heap.Fix(&top, len(top)-1) // up into place: heap.Push would box it
		case c.id < top[0].ID:
			top[0] = ConnInfo{ID: c.id, UserID: c.session.identity.UserID, Transport: c.kind}
			heap.Fix(&top, 0)
		}
	}
	for g, members := range h.groups {
		s.Groups[g] = len(members)
	}
	h.mu.RUnlock()
	slices.SortFunc(top, func(a, b ConnInfo) int { return strings.Compare(a.ID, b.ID) })
	if len(top) > 0 {
		s.Connections = top
	}
	return s
}

// connHeap is a max-heap of connections by ID.
type connHeap []ConnInfo

func (q connHeap) Len() int           { return len(q) }
func (q connHeap) Less(i, j int) bool { return q[i].ID > q[j].ID }
func (q connHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *connHeap) Push(x any)        { *q = append(*q, x.(ConnInfo)) }
func (q *connHeap) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
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
