package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const msec = time.Millisecond

// subscribeLoop keeps one subscription connection open: this node's channel and
// every attached hub's. It is the one judge of the backplane's health: the state
// changes when the connection is made or lost, and each change is logged once.
// Between attempts it backs off from ReconnectMinDelay to ReconnectMaxDelay.
func (b *Backplane) subscribeLoop() {
	defer b.wg.Done()
	delay := b.opts.ReconnectMinDelay
	for b.ctx.Err() == nil {
		connected, err := b.subscribeOnce()
		if b.ctx.Err() != nil {
			return
		}
		b.setDown(err)
		if connected {
			delay = b.opts.ReconnectMinDelay
		}
		// Full jitter between delay/2 and delay, so that nodes do not reconnect in step.
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		if sleep(b.ctx, wait) != nil {
			return
		}
		delay = min(delay*2, b.opts.ReconnectMaxDelay)
	}
}

// subscribeOnce connects, subscribes and reads until the connection fails. It
// reports whether the connection was ever up.
func (b *Backplane) subscribeOnce() (connected bool, err error) {
	ps := b.rdb.Subscribe(b.ctx)
	b.mu.Lock()
	if b.ctx.Err() != nil {
		b.mu.Unlock()
		ps.Close()
		return false, nil
	}
	b.ps = ps
	channels := []string{b.nodeChannel(b.nodeID)}
	for name := range b.hubs {
		channels = append(channels, b.hubChannel(name))
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.ps = nil
		b.mu.Unlock()
		ps.Close()
	}()

	ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout+b.opts.OpTimeout)
	err = ps.Subscribe(ctx, channels...)
	if err == nil {
		// Its Pong, read below, tells that every subscription is active.
		err = ps.Ping(ctx, "up")
	}
	cancel()
	if err != nil {
		return false, fmt.Errorf("redis backplane: subscribe: %w", err)
	}
	awaiting := true // a ping is unanswered
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, b.opts.PingInterval)
		if err != nil {
			if b.ctx.Err() != nil {
				return connected, nil
			}
			if !isTimeout(err) {
				return connected, fmt.Errorf("redis backplane: subscription: %w", err)
			}
			if awaiting {
				return connected, fmt.Errorf("redis backplane: subscription: no answer to a ping within %s", b.opts.PingInterval)
			}
			ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
			err = ps.Ping(ctx, "hb")
			cancel()
			if err != nil {
				return connected, fmt.Errorf("redis backplane: subscription ping: %w", err)
			}
			awaiting = true
			continue
		}
		awaiting = false
		switch m := msg.(type) {
		case *goredis.Pong:
			if !connected {
				connected = true
				b.setUp()
			}
			b.pong(m.Payload)
		case *goredis.Message:
			b.dispatch(m)
		}
	}
}

// dispatch handles one message: an envelope for a hub, or a message of the
// forwarding protocol for this node.
func (b *Backplane) dispatch(m *goredis.Message) {
	if name, ok := strings.CutPrefix(m.Channel, b.opts.Prefix+":hub:"); ok {
		b.receiveEnvelope(name, m.Payload)
		return
	}
	b.receiveRPC(m.Payload)
}

// sync waits until the subscription connection has processed everything sent on
// it before (a Subscribe, typically), or ctx ends.
func (b *Backplane) sync(ctx context.Context, ps *goredis.PubSub) {
	b.mu.Lock()
	b.pingSeq++
	payload := "sync-" + strconv.FormatUint(b.pingSeq, 10)
	done := make(chan struct{})
	b.pongs[payload] = done
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pongs, payload)
		b.mu.Unlock()
	}()
	if ps.Ping(ctx, payload) != nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (b *Backplane) pong(payload string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done, ok := b.pongs[payload]; ok {
		close(done)
		delete(b.pongs, payload)
	}
}

func (b *Backplane) setUp() {
	prev := b.state.Swap(stateUp)
	switch prev {
	case stateDown:
		b.log.Info("redis backplane: Redis is back; cluster delivery resumed", "node", b.nodeID)
		// Memberships changed meanwhile, and other nodes may have purged ours.
		b.needResync.Store(true)
	case stateUnknown:
		b.log.Info("redis backplane: connected", "node", b.nodeID)
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Backplane) setDown(err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	b.errMu.Lock()
	b.lastErr = err
	b.errMu.Unlock()
	prev := b.state.Swap(stateDown)
	// Replies to the requests in flight come on the subscription: none will now.
	b.failCalls("", errRedisLost)
	b.endRelays("", errRedisLost) // their units published meanwhile are lost
	switch prev {
	case stateUp:
		b.log.Error("redis backplane: Redis unreachable; delivering on this node only until it is back", "node", b.nodeID, "err", err)
	case stateUnknown:
		b.log.Error("redis backplane: cannot reach Redis; delivering on this node only until it can", "node", b.nodeID, "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
