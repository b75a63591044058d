package redistest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCluster starts the default cluster (3 masters, 1 replica each) and checks,
// in order on the one cluster: that MasterOf finds the master serving a key, that
// sharded Pub/Sub works on that master, and that killing it fails its slots over
// to its replica.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartClusterT(t, ClusterConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	if url := c.URL(); !strings.HasPrefix(url, "redis+cluster://") || strings.Count(url, ",") != 5 || !strings.Contains(url, c.Nodes[5].Addr) {
		t.Errorf("URL() = %q, want redis+cluster:// and the six nodes", url)
	}
	masters, err := c.Masters(ctx)
	if err != nil || len(masters) != 3 {
		t.Fatalf("Masters() = %d servers, %v; want 3", len(masters), err)
	}

	t.Run("MasterOf", func(t *testing.T) {
		for _, key := range slotKeys {
			m, err := c.MasterOf(key)
			if err != nil {
				t.Fatalf("MasterOf(%q): %v", key, err)
			}
			reply, err := c.Nodes[0].Do(ctx, "CLUSTER", "KEYSLOT", key)
			if err != nil || reply != strconv.Itoa(Slot(key)) {
				t.Errorf("CLUSTER KEYSLOT %q = %q, %v; Slot says %d", key, reply, err, Slot(key))
			}
			// The master serves the key; the others redirect to it.
			for _, other := range masters {
				_, err := other.Do(ctx, "GET", key)
				if other == m && err != nil {
					t.Errorf("GET %q on MasterOf's %s: %v", key, m.Addr, err)
				}
				if other != m && !isMoved(err, m.Addr) {
					t.Errorf("GET %q on %s, not MasterOf's %s: %v, want MOVED to %s", key, other.Addr, m.Addr, err, m.Addr)
				}
			}
		}
	})

	const channel = "hubbub:{room-42}:events"
	t.Run("ShardedPubSub", func(t *testing.T) {
		m, err := c.MasterOf(channel)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := m.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if reply, err := sub.Do(ctx, "SSUBSCRIBE", channel); err != nil || !slices.Equal(strs(reply), []string{"ssubscribe", channel, "1"}) {
			t.Fatalf("SSUBSCRIBE = %#v, %v", reply, err)
		}
		for _, other := range masters {
			if other != m {
				if _, err := other.Do(ctx, "SPUBLISH", channel, "misrouted"); !isMoved(err, m.Addr) {
					t.Errorf("SPUBLISH on %s, not the channel's master: %v, want MOVED to %s", other.Addr, err, m.Addr)
				}
			}
		}
		if n, err := m.DoReply(ctx, "SPUBLISH", channel, "hello"); err != nil || n != int64(1) {
			t.Fatalf("SPUBLISH = %#v, %v; want 1 receiver", n, err)
		}
		msg, err := sub.Receive(ctx)
		if err != nil || !slices.Equal(strs(msg), []string{"smessage", channel, "hello"}) {
			t.Fatalf("the subscriber received %#v, %v", msg, err)
		}
	})

	t.Run("Failover", func(t *testing.T) {
		slot := Slot(channel)
		old, err := c.MasterOfSlot(slot)
		if err != nil {
			t.Fatal(err)
		}
		replicas, err := c.ReplicasOf(ctx, old)
		if err != nil || len(replicas) != 1 {
			t.Fatalf("ReplicasOf(%s) = %d servers, %v; want 1", old.Addr, len(replicas), err)
		}
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitFailover(ctx, old); err != nil {
			t.Fatalf("WaitFailover: %v", err)
		}
		now, err := c.MasterOfSlot(slot)
		if err != nil {
			t.Fatal(err)
		}
		if now != replicas[0] {
			t.Fatalf("slot %d is served by %s after the failover, want the replica %s", slot, now.Addr, replicas[0].Addr)
		}
		if role, err := now.DoReply(ctx, "ROLE"); err != nil || len(strs(role)) == 0 || strs(role)[0] != "master" {
			t.Errorf("ROLE of the promoted replica = %#v, %v", role, err)
		}
		for s := 0; s < 16384; s += 97 {
			if m, err := c.MasterOfSlot(s); err != nil || m == old {
				t.Fatalf("slot %d is served by %v (%v) after the failover; the killed master was %s", s, m, err, old.Addr)
			}
		}
		if n, err := now.DoReply(ctx, "SPUBLISH", channel, "after"); err != nil || n != int64(0) {
			t.Errorf("SPUBLISH on the new master = %#v, %v; want 0 receivers", n, err)
		}
	})
}

// isMoved reports whether err is a MOVED redirection to addr.
func isMoved(err error, addr string) bool {
	var re RedisError
	return errors.As(err, &re) && strings.HasPrefix(string(re), "MOVED ") && strings.HasSuffix(string(re), " "+addr)
}

// strs renders a reply array as strings (integers in decimal).
func strs(reply any) []string {
	arr, _ := reply.([]any)
	out := make([]string, len(arr))
	for i, v := range arr {
		switch v := v.(type) {
		case string:
			out[i] = v
		case int64:
			out[i] = strconv.FormatInt(v, 10)
		}
	}
	return out
}
