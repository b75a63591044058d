package hub

// PendingSessions counts the negotiated sessions no transport has claimed yet.
func PendingSessions(h *Hub) int {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	return h.pending
}
