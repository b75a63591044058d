package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/hub"
)

// Subscriptions. Each node subscribes to its own channel (forwarding), to the
// channel of each attached hub (All), and, routing by interest, to the channel
// of each group, user and connection it holds a receiver of. They live on one
// subscription connection per partition: one partition on a single Redis or
// behind Sentinel, Options.ClusterPartitions on Redis Cluster, where every channel
// of a partition carries the partition's hash tag, so that one shard serves it
// and one SSUBSCRIBE connection carries it.
//
// Churn stays cheap: the first receiver of a channel queues a SUBSCRIBE, and one
// goroutine (subscriptionLoop) sends everything queued at that moment as one
// command and one PING behind it; the PONG confirms the whole batch (Redis answers
// in order). One batch is in flight at a time, so the joins that arrive during
// its round trip share the next command. The last receiver's
// leave starts a linger (Options.UnsubscribeLinger), so a leave followed by a
// join costs nothing, and lingered channels go in one UNSUBSCRIBE.

// partition is one subscription connection and the channels it carries.
type partition struct {
	index  int
	anchor string // on Redis Cluster, a channel always subscribed, so that the connection exists
	probe  string // a channel only this node subscribes to, on this partition (selfcheck.go)

	publishes chan *pendingPublish // to its writer (publish.go); MaxPendingPublishes
	up        atomic.Bool

	// b.mu guards the rest.
	ps     *goredis.PubSub // the current connection; nil between connections
	gen    uint64          // connections made; a channel subscribed on the current one has its gen
	subs   []string        // waiting for subscriptionLoop
	unsubs []string
	next   *confirm            // confirms subs once active
	pongs  map[string]*confirm // by the payload of the PING that confirms them
	ownEnd map[string]int      // unsubscribe replies this node asked for (Redis Cluster)
}

// channelState is one subscribed (or wanted) channel.
type channelState struct {
	part   *partition
	count  int         // local receivers; the hub and node channels count 1
	gen    uint64      // part.gen when subscribed; other values: not on this connection
	ready  *confirm    // tells when the subscription is active
	linger *time.Timer // unsubscribes after UnsubscribeLinger with no receiver
}

// confirm is resolved once: nil when the subscriptions it stands for are active.
type confirm struct {
	done chan struct{}
	once sync.Once
	err  error
}

func newConfirm() *confirm { return &confirm{done: make(chan struct{})} }

func (c *confirm) resolve(err error) {
	c.once.Do(func() { c.err = err; close(c.done) })
}

func (c *confirm) failed() bool {
	select {
	case <-c.done:
		return c.err != nil
	default:
		return false
	}
}

// Channels. Hub and group names are free text: a length prefix keeps them apart.

// channelSuffix is a channel's name after the prefix, in parts: it is hashed
// and written in one go, so that naming the channel of a send or a join costs one
// allocation.
type channelSuffix [6]string

// channel names the channel whose name after the prefix is suffix (":hub:chat",
// ":node:ID", …), and its partition: on Redis Cluster, the FNV-1a hash of the
// suffix picks it, and its hash tag goes between the prefix and the suffix.
func (b *Backplane) channel(s channelSuffix) (string, *partition) {
	if !b.sharded() {
		return b.opts.Prefix + s[0] + s[1] + s[2] + s[3] + s[4] + s[5], b.parts[0]
	}
	h := uint32(2166136261)
	for _, part := range s {
		for i := 0; i < len(part); i++ {
			h = (h ^ uint32(part[i])) * 16777619
		}
	}
	p := b.parts[int(h%uint32(len(b.parts)))]
	return b.opts.Prefix + ":{" + strconv.Itoa(p.index) + "}" + s[0] + s[1] + s[2] + s[3] + s[4] + s[5], p
}

func (b *Backplane) partitionTag(i int) string {
	return b.opts.Prefix + ":{" + strconv.Itoa(i) + "}"
}

func (b *Backplane) sharded() bool { return b.topology == Cluster }

func (b *Backplane) hubChannel(hubName string) (string, *partition) {
	return b.channel(channelSuffix{":hub:", hubName})
}

func (b *Backplane) nodeChannel(nodeID string) (string, *partition) {
	return b.channel(channelSuffix{":node:", nodeID})
}

// envelopeChannel is where an envelope for key of kind goes: the hub's channel
// for All (and for everything with RouteByHub), else the key's.
func (b *Backplane) envelopeChannel(hubName string, kind hub.SelectorKind, key string) (string, *partition) {
	if b.opts.RouteByHub || kind == hub.SelectAll {
		return b.hubChannel(hubName)
	}
	letter := ":c:"
	switch kind {
	case hub.SelectGroups:
		letter = ":g:"
	case hub.SelectUsers:
		letter = ":u:"
	}
	// ":to:" and the hub name length-prefixed as lenPrefixed writes it.
	return b.channel(channelSuffix{":to:", strconv.Itoa(len(hubName)), ":", hubName, letter, key})
}

// AddInterest implements [hub.InterestRouter]: the first local receiver of a key
// subscribes to its channel, and every caller returns once that subscription is
// active on Redis, within ctx and OpTimeout. While Redis is down it returns nil
// at once: the channel is subscribed when Redis is back, before delivery resumes,
// and meanwhile no node's messages reach another. With RouteByHub it does nothing.
func (b *Backplane) AddInterest(ctx context.Context, hubName string, kind hub.SelectorKind, key string) error {
	if b.opts.RouteByHub {
		return nil
	}
	name, p := b.envelopeChannel(hubName, kind, key)
	b.mu.Lock()
	c := b.wantLocked(name, p)
	b.mu.Unlock()
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	select {
	case <-c.done:
		if c.err != nil && p.up.Load() {
			return fmt.Errorf("redis backplane: subscription not confirmed: %w (%w)", ErrUnavailable, c.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redis backplane: subscription not confirmed: %w", ctx.Err())
	}
}

// RemoveInterest implements [hub.InterestRouter]: after the last local receiver of
// a key, its channel lingers for UnsubscribeLinger, then goes.
func (b *Backplane) RemoveInterest(hubName string, kind hub.SelectorKind, key string) {
	if b.opts.RouteByHub {
		return
	}
	name, p := b.envelopeChannel(hubName, kind, key)
	b.mu.Lock()
	b.unwantLocked(name, p)
	b.mu.Unlock()
}

// wantLocked counts one more receiver of channel name and returns what tells when
// it is subscribed, or nil when there is nothing to wait for (no connection now:
// the next one subscribes to it; or a leave overtook this join). b.mu is held.
func (b *Backplane) wantLocked(name string, p *partition) *confirm {
	cs := b.channels[name]
	if cs == nil {
		cs = &channelState{part: p}
		b.channels[name] = cs
	}
	cs.count++
	if cs.linger != nil {
		cs.linger.Stop()
		cs.linger = nil
	}
	if cs.count <= 0 || p.ps == nil {
		if cs.count == 0 && (p.ps == nil || cs.gen != p.gen) {
			delete(b.channels, name) // a join that caught up with its leave
		}
		return nil
	}
	if cs.gen == p.gen && cs.ready != nil && !cs.ready.failed() {
		return cs.ready
	}
	cs.gen = p.gen
	p.unsubs = slices.DeleteFunc(p.unsubs, func(s string) bool { return s == name })
	p.subs = append(p.subs, name)
	if p.next == nil {
		p.next = newConfirm()
	}
	cs.ready = p.next
	b.kickLocked()
	return cs.ready
}

// unwantLocked counts one receiver fewer of channel name; after the last, the
// channel lingers, then is unsubscribed. b.mu is held.
func (b *Backplane) unwantLocked(name string, p *partition) {
	cs := b.channels[name]
	if cs == nil {
		cs = &channelState{part: p}
		b.channels[name] = cs
	}
	cs.count--
	switch {
	case cs.count > 0 || cs.linger != nil:
	case cs.count < 0: // a leave before its join: the join will bring it back to 0
	case p.ps == nil || cs.gen != p.gen:
		delete(b.channels, name) // not subscribed on the current connection
	default:
		var t *time.Timer
		t = time.AfterFunc(b.opts.UnsubscribeLinger, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if cs.linger != t || cs.count > 0 {
				return
			}
			cs.linger = nil
			if b.channels[name] == cs {
				delete(b.channels, name)
			}
			if p.ps != nil && cs.gen == p.gen {
				p.subs = slices.DeleteFunc(p.subs, func(s string) bool { return s == name })
				p.unsubs = append(p.unsubs, name)
				b.kickLocked()
			}
		})
		cs.linger = t
	}
}

func (b *Backplane) kickLocked() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// subscriptionLoop sends the queued subscribes and unsubscribes of every
// partition, each batch as one command, until Close. One batch per partition is
// in flight at a time: the joins that arrive during its round trip share the next
// command instead of each sending its own.
func (b *Backplane) subscriptionLoop() {
	defer b.wg.Done()
	var inFlight []*confirm
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		inFlight = inFlight[:0]
		for _, p := range b.parts {
			if c := b.flushSubscriptions(p); c != nil {
				inFlight = append(inFlight, c)
			}
		}
		timeout := time.NewTimer(b.opts.OpTimeout)
		for _, c := range inFlight {
			select {
			case <-c.done:
			case <-timeout.C:
			case <-b.ctx.Done():
			}
		}
		timeout.Stop()
	}
}

// flushSubscriptions sends p's queued unsubscribes, then subscribes, then a PING
// whose PONG confirms the subscribes, and returns what the PONG resolves (nil
// when nothing needs it). A failure closes the connection: the next one
// subscribes to everything wanted.
func (b *Backplane) flushSubscriptions(p *partition) *confirm {
	b.mu.Lock()
	ps, subs, unsubs, c := p.ps, p.subs, p.unsubs, p.next
	if ps == nil || len(subs)+len(unsubs) == 0 {
		b.mu.Unlock()
		return nil
	}
	p.subs, p.unsubs, p.next = nil, nil, nil
	var payload string
	if c != nil {
		b.pingSeq++
		payload = "sub-" + strconv.FormatUint(b.pingSeq, 10)
		p.pongs[payload] = c
	}
	if b.sharded() {
		for _, name := range unsubs {
			p.ownEnd[name]++
		}
	}
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	var err error
	if len(unsubs) > 0 {
		err = b.unsubscribe(ctx, ps, unsubs)
	}
	if err == nil && len(subs) > 0 {
		err = b.subscribe(ctx, ps, subs)
	}
	if err == nil && c != nil {
		err = ps.Ping(ctx, payload)
	}
	if err != nil {
		if c != nil {
			c.resolve(err)
		}
		ps.Close() // the read loop ends and reconnects
		return nil
	}
	return c
}

func (b *Backplane) subscribe(ctx context.Context, ps *goredis.PubSub, channels []string) error {
	if b.sharded() {
		return ps.SSubscribe(ctx, channels...)
	}
	return ps.Subscribe(ctx, channels...)
}

func (b *Backplane) unsubscribe(ctx context.Context, ps *goredis.PubSub, channels []string) error {
	if b.sharded() {
		return ps.SUnsubscribe(ctx, channels...)
	}
	return ps.Unsubscribe(ctx, channels...)
}
