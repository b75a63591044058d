// Package envelope is the form in which the backplanes carry a hub.Envelope
// between nodes: its JSON, with the names of its selector kept byte for byte.
//
// A group name or a user ID is any bytes (a MessagePack string, a query
// parameter), and a JSON string carries what is not valid UTF-8 as U+FFFD: the
// receiving node would take a send to group "\xff" for one to group "\ufffd",
// and deliver it to that group's members instead. So a selector with such a
// name travels with its lists as bytes beside the envelope ("r"), and its JSON
// lists empty. Every other envelope is plain hub.Envelope JSON, encoded and
// decoded at no extra cost.
package envelope

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/hubbub-go/hubbub/hub"
)

// rawKey starts the raw lists of a selector in an envelope's JSON.
var rawKey = []byte(`"r":{`)

// wire is an envelope as it travels.
type wire struct {
	*hub.Envelope
	Raw *rawSelector `json:"r,omitempty"`
}

// rawSelector holds a selector's lists as bytes.
type rawSelector struct {
	IDs          [][]byte `json:"i,omitempty"`
	Except       [][]byte `json:"x,omitempty"`
	ExceptGroups [][]byte `json:"xg,omitempty"`
}

// Marshal encodes env for other nodes.
func Marshal(env *hub.Envelope) ([]byte, error) {
	sel := env.Selector
	if allValid(sel.IDs) && allValid(sel.Except) && allValid(sel.ExceptGroups) {
		return json.Marshal(env) // what wire{Envelope: env} writes, with less work
	}
	plain := *env
	plain.Selector = hub.Selector{Kind: sel.Kind}
	return json.Marshal(wire{Envelope: &plain, Raw: &rawSelector{
		IDs: toBytes(sel.IDs), Except: toBytes(sel.Except), ExceptGroups: toBytes(sel.ExceptGroups),
	}})
}

// Unmarshal decodes what Marshal encodes into env.
func Unmarshal(data []byte, env *hub.Envelope) error {
	if err := json.Unmarshal(data, env); err != nil {
		return err
	}
	if !bytes.Contains(data, rawKey) {
		return nil // the plain form (an argument may hold the key: then look)
	}
	var w struct {
		Raw *rawSelector `json:"r"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if w.Raw != nil {
		env.Selector.IDs = toStrings(w.Raw.IDs)
		env.Selector.Except = toStrings(w.Raw.Except)
		env.Selector.ExceptGroups = toStrings(w.Raw.ExceptGroups)
	}
	return nil
}

func allValid(names []string) bool {
	for _, n := range names {
		if !utf8.ValidString(n) {
			return false
		}
	}
	return true
}

func toBytes(names []string) [][]byte {
	if names == nil {
		return nil
	}
	raw := make([][]byte, len(names))
	for i, n := range names {
		raw[i] = []byte(n)
	}
	return raw
}

func toStrings(raw [][]byte) []string {
	if raw == nil {
		return nil
	}
	names := make([]string, len(raw))
	for i, b := range raw {
		names[i] = string(b)
	}
	return names
}
