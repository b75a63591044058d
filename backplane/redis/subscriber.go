package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const msec = time.Millisecond

// subscribeLoop keeps partition p's subscription connection open, with every
// channel wanted in it. The connections are the judges of the backplane's health:
// it is up while every partition's is, and each change is logged once. Between
// attempts it backs off from ReconnectMinDelay to ReconnectMaxDelay.
func (b *Backplane) subscribeLoop(p *partition) {
	defer b.wg.Done()
	delay := b.opts.ReconnectMinDelay
	for b.ctx.Err() == nil {
		connected, err := b.subscribeOnce(p)
		if b.ctx.Err() != nil {
			return
		}
		b.partitionDown(p, err)
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
func (b *Backplane) subscribeOnce(p *partition) (connected bool, err error) {
	ps, channels, joined := b.openSubscription(p)
	if ps == nil {
		return false, nil // closing
	}
	defer func() { b.dropSubscription(p, ps, joined, err) }()
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout+b.opts.OpTimeout)
	err = b.subscribe(ctx, ps, channels)
	if err == nil {
		// Its Pong, read below, tells that every subscription is active.
		err = ps.Ping(ctx, "up")
	}
	cancel()
	if err != nil {
		return false, fmt.Errorf("redis backplane: subscribe: %w", err)
	}
	return b.readSubscription(p, ps, joined)
}

// openSubscription makes p's next subscription connection current and lists
// the channels it must carry: every channel of p with a receiver, or lingering.
// joined is what the joins waiting for it wait on. ps is nil when the backplane
// is closing.
func (b *Backplane) openSubscription(p *partition) (ps *goredis.PubSub, channels []string, joined *confirm) {
	if cc, ok := b.rdb.(*goredis.ClusterClient); ok && p.gen > 0 {
		// After a failover or a resharding: learn where the partition's slot lives.
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
		cc.ReloadState(ctx)
		cancel()
	}
	if b.sharded() {
		ps = b.rdb.SSubscribe(b.ctx)
	} else {
		ps = b.rdb.Subscribe(b.ctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		ps.Close()
		return nil, nil, nil
	}
	p.ps = ps
	p.gen++
	joined = p.next // joins queued meanwhile wait for this connection
	if joined == nil {
		joined = newConfirm()
	}
	p.subs, p.unsubs, p.next = nil, nil, nil
	for name, cs := range b.channels {
		if cs.part == p && (cs.count > 0 || cs.linger != nil) {
			channels = append(channels, name)
			cs.gen, cs.ready = p.gen, joined
		}
	}
	return ps, channels, joined
}

// dropSubscription ends p's connection ps: what waits for a PONG on it fails.
func (b *Backplane) dropSubscription(p *partition, ps *goredis.PubSub, joined *confirm, err error) {
	b.mu.Lock()
	p.ps = nil
	for payload, c := range p.pongs {
		c.resolve(errors.New("subscription connection lost"))
		delete(p.pongs, payload)
	}
	clear(p.ownEnd)
	b.mu.Unlock()
	joined.resolve(err)
	ps.Close()
}

// readSubscription reads ps until it fails, pinging it when it has been idle for
// PingInterval. The first PONG (of the PING behind the first SUBSCRIBE) marks the
// partition up.
func (b *Backplane) readSubscription(p *partition, ps *goredis.PubSub, joined *confirm) (connected bool, err error) {
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
				joined.resolve(nil)
				b.partitionUp(p)
			}
			b.pong(p, m.Payload)
		case *goredis.Message:
			b.dispatch(m)
		case *goredis.Subscription:
			if m.Kind == "sunsubscribe" && !b.askedEnd(p, m.Channel) {
				// Redis Cluster moved the slot (a failover, a resharding): its new
				// owner has our subscriptions no more.
				return connected, fmt.Errorf("redis backplane: Redis Cluster unsubscribed %s: its slot moved", m.Channel)
			}
		}
	}
}

// askedEnd reports whether this node asked for the end of channel's subscription
// (its SUNSUBSCRIBE reply), as opposed to Redis Cluster ending it.
func (b *Backplane) askedEnd(p *partition, channel string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.ownEnd[channel] == 0 {
		return false
	}
	if p.ownEnd[channel]--; p.ownEnd[channel] == 0 {
		delete(p.ownEnd, channel)
	}
	return true
}

// dispatch handles one message: a message of the forwarding protocol for this
// node, or an envelope.
func (b *Backplane) dispatch(m *goredis.Message) {
	if m.Channel == b.ownChannel {
		b.receiveRPC(m.Payload)
		return
	}
	b.receiveEnvelope(m.Payload)
}

func (b *Backplane) pong(p *partition, payload string) {
	b.mu.Lock()
	c, ok := p.pongs[payload]
	delete(p.pongs, payload)
	b.mu.Unlock()
	if ok {
		c.resolve(nil)
	}
}

// partitionUp marks p connected; the backplane is up once every partition is.
func (b *Backplane) partitionUp(p *partition) {
	p.up.Store(true)
	for _, q := range b.parts {
		if !q.up.Load() {
			return
		}
	}
	b.setUp()
}

func (b *Backplane) partitionDown(p *partition, err error) {
	p.up.Store(false)
	if b.sharded() && err != nil {
		err = fmt.Errorf("partition %d: %w", p.index, err)
	}
	b.setDown(err)
}

func (b *Backplane) setUp() {
	prev := b.state.Swap(stateUp)
	switch prev {
	case stateDown:
		b.log.Info("redis backplane: Redis is back; cluster delivery resumed", "node", b.nodeID)
		// Memberships changed meanwhile, and other nodes may have purged ours.
		b.needResync.Store(true)
	case stateUnknown:
		b.log.Info("redis backplane: connected", "node", b.nodeID, "topology", b.topology)
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
	b.distrustVerdicts()
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
