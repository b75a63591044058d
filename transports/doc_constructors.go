package transports

// The constructors below are the contract the hub relies on; their bodies live in
// websocket.go, sse.go and longpoll.go.
//
//	AcceptWebSocket(w, r, opts, binary, receive) (*WebSocket, error)
//	    Upgrades r (the caller has already checked the session, so a refusal can be a
//	    plain HTTP status before the upgrade). Checks opts.CheckOrigin (403 on failure).
//	    Starts reading: every message goes to receive. binary chooses the frame type
//	    for Send. Accepts both text and binary frames from the client.
//
//	NewServerSentEvents(opts, receive) *SSE
//	    (*SSE).ServeStream(w, r)  the GET: headers, ":\r\n" flushed, then one event per
//	                              Send, until the transport ends; returns then.
//	    (*SSE).ServeSend(w, r)    a POST: body capped at MaxReceiveSize (413), 409 if a
//	                              POST is already in progress, receive(body), 200.
//
//	NewLongPolling(opts, receive) *LongPoll
//	    (*LongPoll).ServePoll(w, r)    the first poll answers 200 empty at once; later
//	                                   polls wait for a Send (200 with the unit), or
//	                                   PollTimeout (200 empty), or the end (204). A new
//	                                   poll supersedes a pending one (the old gets 204?
//	                                   see the spec; documented in longpoll.go).
//	    (*LongPoll).ServeSend(w, r)    as for SSE.
//	    (*LongPoll).ServeDelete(w, r)  ends the transport, 202.
