package redistest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSentinelFailover kills the master of a sentinel setup and expects the
// sentinels to promote the replica, with the data it replicated.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := StartSentinelT(t, SentinelConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if len(s.Sentinels) != 3 || s.MasterName == "" {
		t.Fatalf("%d sentinels, master name %q", len(s.Sentinels), s.MasterName)
	}
	want := "redis+sentinel://" + s.Sentinels[0].Addr + "," + s.Sentinels[1].Addr + "," + s.Sentinels[2].Addr + "/" + s.MasterName
	if s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	cur, err := s.CurrentMaster(ctx)
	if err != nil || cur != s.Master.Addr {
		t.Fatalf("CurrentMaster() = %q, %v; want the master %s", cur, err, s.Master.Addr)
	}
	if role, err := s.Replica.DoReply(ctx, "ROLE"); err != nil || strs(role)[0] != "slave" {
		t.Fatalf("ROLE of the replica = %#v, %v", role, err)
	}
	if _, err := s.Master.Do(ctx, "SET", "redistest:k", "v"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Master.DoReply(ctx, "WAIT", "1", "10000"); err != nil || n != int64(1) {
		t.Fatalf("WAIT 1 = %#v, %v; want the replica's acknowledgement", n, err)
	}

	if err := s.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	addr, err := s.WaitFailover(ctx, cur)
	if err != nil {
		t.Fatalf("WaitFailover: %v", err)
	}
	if addr != s.Replica.Addr {
		t.Fatalf("WaitFailover = %s, want the former replica %s", addr, s.Replica.Addr)
	}
	if role, err := s.Replica.DoReply(ctx, "ROLE"); err != nil || strs(role)[0] != "master" {
		t.Errorf("ROLE of the promoted replica = %#v, %v", role, err)
	}
	if v, err := s.Replica.Do(ctx, "GET", "redistest:k"); err != nil || v != "v" {
		t.Errorf("GET on the new master = %q, %v; want the replicated v", v, err)
	}
	if cur, err := s.CurrentMaster(ctx); err != nil || cur != addr {
		t.Errorf("CurrentMaster() after the failover = %q, %v; want %s", cur, err, addr)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("the new master %s is not announced on 127.0.0.1", addr)
	}
}
