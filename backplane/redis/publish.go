package redis

import (
	"cmp"
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Publishing: one writer goroutine per partition (one on a single Redis or
// behind Sentinel) sends the publishes of every caller, as a connection's
// writer in the hub sends its messages. It takes everything waiting in its
// queue (Options.MaxPendingPublishes) and writes it in one pipeline, one PUBLISH
// per envelope, so that under load many publishes share a round trip and one
// connection, instead of one round trip (and a connection of the pool) per
// concurrent caller. An idle node's publish goes alone, as before. A queue is a
// FIFO and one pipeline is in flight at a time, so envelopes reach Redis in the
// order their Publish calls queued them: per publisher, in publish order (on
// Redis Cluster, per partition). A writer per partition, so that on Redis
// Cluster a shard that stops answering holds up only the publishes on its
// partitions (each up to OpTimeout), not those bound for live shards
// (TestFrozenShard).
//
// Each caller waits for its own reply (Publish reports a failed cluster
// delivery), bounded by OpTimeout; a caller that gives up before its envelope is
// written is skipped, and Close answers every waiting caller.

// pendingPublish is one Publish call waiting for the writer: its envelopes, one
// per channel.
type pendingPublish struct {
	ctx  context.Context // the caller's, with OpTimeout
	msgs []outMessage
	done chan error // buffered: the writer never waits for the caller
}

// outMessage is one envelope for one channel, of partition part.
type outMessage struct {
	channel string
	payload []byte
	part    *partition
}

// errClosed answers the publishes still waiting when the backplane closes.
var errClosed = fmt.Errorf("redis backplane: closed: %w", ErrUnavailable)

// publish queues the envelopes of one Publish for the writers of their
// partitions and waits for their result (the first error among them), within
// ctx. The error is the cause only; Publish wraps it.
func (b *Backplane) publish(ctx context.Context, msgs []outMessage) error {
	// One entry per partition in its writer's queue, its envelopes in order.
	var pending []*pendingPublish
	byPart := map[*partition]*pendingPublish{}
	for _, m := range msgs {
		p := byPart[m.part]
		if p == nil {
			p = &pendingPublish{ctx: ctx, done: make(chan error, 1)}
			byPart[m.part] = p
			pending = append(pending, p)
		}
		p.msgs = append(p.msgs, m)
	}
	for _, p := range pending {
		if err := b.enqueue(ctx, p.msgs[0].part, p); err != nil {
			return err
		}
	}
	var first error
	for _, p := range pending {
		select {
		case err := <-p.done:
			first = cmp.Or(first, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-b.ctx.Done():
			return errClosed
		}
	}
	return first
}

// enqueue puts p in the queue of part's writer, waiting for room within ctx.
func (b *Backplane) enqueue(ctx context.Context, part *partition, p *pendingPublish) error {
	select {
	case part.publishes <- p:
		return nil
	default: // full: wait for room
		select {
		case part.publishes <- p:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%w (%d waiting): %w", ErrPublishQueueFull, b.opts.MaxPendingPublishes, ctx.Err())
		case <-b.ctx.Done():
			return errClosed
		}
	}
}

// publishLoop is part's writer: it runs until Close, then answers what still
// waits.
func (b *Backplane) publishLoop(part *partition) {
	defer b.wg.Done()
	batch := make([]*pendingPublish, 0, cap(part.publishes))
	for {
		select {
		case p := <-part.publishes:
			batch = append(batch[:0], p)
		case <-b.ctx.Done():
			for {
				select {
				case p := <-part.publishes:
					p.done <- errClosed
				default:
					return
				}
			}
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case p := <-part.publishes:
				batch = append(batch, p)
			default:
				break more
			}
		}
		b.writePublishes(batch)
		clear(batch) // let the payloads go
	}
}

// writePublishes sends batch in one pipeline and answers each caller with its own
// commands' result (a Redis error for one of its PUBLISHes, or the connection's
// error for all of them). On Redis Cluster they are SPUBLISHes, which the client
// sends to each channel's shard.
func (b *Backplane) writePublishes(batch []*pendingPublish) {
	live := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.done <- err // its caller has given up: not published
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	cmds, err := b.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, p := range live {
			for _, m := range p.msgs {
				b.publishCmd(ctx, pipe, m.channel, m.payload)
			}
		}
		return nil
	})
	i := 0
	for _, p := range live {
		var first error
		for range p.msgs {
			if i < len(cmds) {
				first = cmp.Or(first, cmds[i].Err())
			} else {
				first = cmp.Or(first, err)
			}
			i++
		}
		p.done <- first
	}
}

// publishCmd publishes payload on channel: PUBLISH, or SPUBLISH on Redis Cluster.
func (b *Backplane) publishCmd(ctx context.Context, c goredis.Cmdable, channel string, payload any) *goredis.IntCmd {
	if b.sharded() {
		return c.SPublish(ctx, channel, payload)
	}
	return c.Publish(ctx, channel, payload)
}
