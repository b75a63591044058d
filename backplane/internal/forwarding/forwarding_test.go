package forwarding_test

import (
	"fmt"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/internal/forwarding"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// TestUserIDsRoundTrip: the user IDs of a message (a claim's, a claimed
// session's, a relay's) survive Marshal and Unmarshal byte for byte, those
// that are not valid UTF-8 included.
func TestUserIDsRoundTrip(t *testing.T) {
	for _, user := range []string{"", "ada", "ü日本語", "\xff", "a\x00b\xfe"} {
		want := forwarding.Message{
			Type: forwarding.TypeClaim, ID: 7, From: "node", Token: "tok", User: user,
			Session: &hub.SessionInfo{ConnectionID: "c", Identity: hub.Identity{UserID: user}},
			Relay:   &hub.RelayRequest{Kind: transports.WebSockets, UserID: user},
		}
		data, err := forwarding.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		var got forwarding.Message
		if err := forwarding.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if g, w := fmt.Sprintf("%#v %#v %#v", got, *got.Session, *got.Relay), fmt.Sprintf("%#v %#v %#v", want, *want.Session, *want.Relay); got.User != user || got.Session.Identity.UserID != user || got.Relay.UserID != user {
			t.Errorf("user %q: got %s, want %s", user, g, w)
		}
	}
}
