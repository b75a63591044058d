package envelope_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/internal/envelope"
	"github.com/hubbub-go/hubbub/hub"
)

// TestRoundTrip: an envelope survives Marshal and Unmarshal with its selector's
// names byte for byte, those that are not valid UTF-8 included, and a plain one
// is the JSON of hub.Envelope (what nodes of earlier versions read).
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		sel   hub.Selector
		plain bool // every name valid UTF-8
	}{
		{hub.Selector{Kind: hub.SelectAll}, true},
		{hub.Selector{Kind: hub.SelectGroups, IDs: []string{"room", "", "ü"}, Except: []string{"c1"}, ExceptGroups: []string{"g0"}}, true},
		{hub.Selector{Kind: hub.SelectGroups, IDs: []string{"\xff"}, ExceptGroups: []string{"\xfe", "\ufffd"}}, false},
		{hub.Selector{Kind: hub.SelectUsers, IDs: []string{"ok", "a\xffb"}, Except: []string{"\x80"}}, false},
	}
	for _, tc := range tests {
		want := hub.Envelope{Hub: "chat", Selector: tc.sel, Method: "m", Args: []json.RawMessage{json.RawMessage(`1`)}}
		data, err := envelope.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		var got hub.Envelope
		if err := envelope.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("%q: got %#v, want %#v", data, got, want)
		}
		if plain, _ := json.Marshal(&want); tc.plain && string(plain) != string(data) {
			t.Errorf("a plain envelope is %s, want hub.Envelope's JSON %s", data, plain)
		}
	}
}
