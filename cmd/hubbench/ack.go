package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Stateful subscribers (--stateful): a hubbub connection that negotiated stateful
// reconnect must ack what it receives, or the server stops writing to it once
// Options.StatefulReconnectBufferSize (100,000 bytes) is unacked. ackedConn acks as
// the Go and JS clients do (docs/reconnect.md): it counts the trackable messages
// (types 1-5) it receives and sends {"type":8,"sequenceId":N} about ackDelay after
// receiving, coalesced, and at once after ackEagerBytes received since its last ack.

const (
	// ackDelay is how long after receiving a trackable message the ack goes out.
	ackDelay = time.Second
	// ackEagerBytes received since the last ack send one at once.
	ackEagerBytes = 32 << 10
	// ackRetryDelay is the pause before an ack POST cut by the network is sent again.
	ackRetryDelay = 250 * time.Millisecond
)

// ackedConn is a stateful hubbub subscriber. The idle connection holds no goroutine
// and no timer: the timer is made by the first trackable message, and a goroutine
// sends acks only while one is due (SSE and long-polling acks are POSTs, which must
// not hold up the reader).
type ackedConn struct {
	subConn
	s     *sink         // ack failures count in s.errors, unless the measurement is over
	delay time.Duration // 0: ackDelay
	eager int           // 0: ackEagerBytes

	mu       sync.Mutex
	received int64 // trackable messages counted, the number of the last one
	acked    int64 // the highest number an ack carried (or is carrying)
	sinceAck int   // bytes received since the last ack went out
	timer    *time.Timer
	timerSet bool
	sending  bool // a goroutine is sending acks
	closed   bool
	byPoll   bool // long polling: the polls carry the acks (lpSub.acked)
}

// receivedSoFar is the number of the last trackable message received.
func (a *ackedConn) receivedSoFar() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.received
}

// onUnit counts the trackable messages in a received unit and schedules their ack.
// The reader calls it, one unit at a time.
func (a *ackedConn) onUnit(unit []byte) {
	n := countTrackable(unit)
	if n == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.received += int64(n)
	if a.byPoll {
		return
	}
	a.sinceAck += len(unit)
	switch {
	case a.sinceAck >= cmp.Or(a.eager, ackEagerBytes):
		a.kickLocked()
	case a.timerSet:
	case a.timer == nil:
		a.timerSet = true
		a.timer = time.AfterFunc(cmp.Or(a.delay, ackDelay), a.timerFired)
	default:
		a.timerSet = true
		a.timer.Reset(cmp.Or(a.delay, ackDelay))
	}
}

func (a *ackedConn) timerFired() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.timerSet = false
	a.kickLocked()
}

// kickLocked starts the sending goroutine unless it runs or nothing is due.
func (a *ackedConn) kickLocked() {
	if a.sending || a.closed || a.received <= a.acked {
		return
	}
	a.sending = true
	go a.sendAcks()
}

// sendAcks sends the latest count until no newer one is due: acks that fall due
// while one is on its way coalesce into the next.
func (a *ackedConn) sendAcks() {
	var buf []byte
	for {
		a.mu.Lock()
		n := a.received
		if a.closed || n <= a.acked {
			a.sending = false
			a.mu.Unlock()
			return
		}
		a.acked, a.sinceAck = n, 0
		a.mu.Unlock()
		buf = append(appendInt(append(buf[:0], `{"type":8,"sequenceId":`...), n), "}\x1e"...)
		err := a.subConn.send(buf)
		if _, refused := errors.AsType[*statusError](err); err != nil && !refused && !a.s.closing.Load() {
			// A POST cut by the network is sent again, as the clients do
			// (docs/reconnect.md); the retry is counted, not the cut.
			a.s.ackRetries.Add(1)
			time.Sleep(ackRetryDelay)
			err = a.subConn.send(buf)
		}
		if err != nil {
			a.mu.Lock()
			a.sending = false
			closed := a.closed
			a.mu.Unlock()
			if !closed && !a.s.closing.Load() {
				a.s.fail(fmt.Errorf("ack: %w", err))
			}
			return
		}
	}
}

// sent reports the number the last ack carried (tests).
func (a *ackedConn) sent() int64 {
	if lp, ok := a.subConn.(*lpSub); ok && a.byPoll {
		return lp.ackOut.Load()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked
}

func (a *ackedConn) close() {
	a.mu.Lock()
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.mu.Unlock()
	a.subConn.close()
}

var typePrefix = []byte(`{"type":`)

// countTrackable counts the records of a unit whose type is 1-5 (Invocation,
// StreamItem, Completion, StreamInvocation, CancelInvocation). Hubbub writes "type"
// first in every record; a record written otherwise is looked into for its first
// "type" key.
func countTrackable(unit []byte) int {
	n := 0
	for len(unit) > 0 {
		rec := unit
		if i := bytes.IndexByte(unit, rs); i >= 0 {
			rec, unit = unit[:i], unit[i+1:]
		} else {
			unit = nil
		}
		var t []byte
		if bytes.HasPrefix(rec, typePrefix) {
			t = rec[len(typePrefix):]
		} else if i := bytes.Index(rec, []byte(`"type":`)); i >= 0 {
			t = bytes.TrimLeft(rec[i+len(`"type":`):], " ")
		}
		if len(t) >= 2 && t[0] >= '1' && t[0] <= '5' && (t[1] < '0' || t[1] > '9') {
			n++
		}
	}
	return n
}
