package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// slotKeys are keys whose slot Slot must compute as Redis does, hash tags
// included: the first '{' with a '}' after it and something between them.
var slotKeys = []string{
	"", "a", "foo", "bar", "123456789", "hubbub:group:chat",
	"{user1000}.following", "{user1000}.followers", // the same slot
	"foo{}{bar}",    // empty first tag: the whole key
	"foo{{bar}}zap", // tag "{bar"
	"foo{bar}{zap}", // tag "bar"
	"{}", "{", "}", "}{a}", "a{b", "{a}{b}",
	"hubbub:{room-42}:msgs", "\x00\xff", "ключ",
}

func TestCRC16(t *testing.T) {
	// The check value of CRC-16/XMODEM, the CRC Redis Cluster uses.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#04x, want 0x31c3", got)
	}
}

// TestSlotMatchesClusterKeyslot compares Slot with CLUSTER KEYSLOT of a
// cluster-enabled redis-server (it answers without being part of a cluster).
func TestSlotMatchesClusterKeyslot(t *testing.T) {
	s := StartServerT(t, "--cluster-enabled", "yes")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, key := range slotKeys {
		reply, err := s.Do(ctx, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
		}
		want, err := strconv.Atoi(reply)
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %q is not a number", key, reply)
		}
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
}
