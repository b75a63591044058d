package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// HandshakeRequest is the first record a client sends: {"protocol":"json","version":1}.
type HandshakeRequest struct {
	Protocol string `json:"protocol"`
	Version  int    `json:"version"`
}

// ParseHandshakeRequest reads the handshake request at the start of unit and returns
// it with the bytes that follow it in the same unit (ordinary messages, which the
// client may batch behind the handshake).
func ParseHandshakeRequest(unit []byte) (HandshakeRequest, []byte, error) {
	record, rest, ok, err := NextRecord(unit)
	if err != nil {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w", err)
	}
	if !ok {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w: empty request", ErrInvalidMessage)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(record, &fields); err != nil {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w: %v", ErrInvalidMessage, err)
	}
	var req HandshakeRequest
	rawName, hasName := fields["protocol"]
	rawVersion, hasVersion := fields["version"]
	if !hasName || json.Unmarshal(rawName, &req.Protocol) != nil || req.Protocol == "" {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w: 'protocol' must be a non-empty string", ErrInvalidMessage)
	}
	if !hasVersion || json.Unmarshal(rawVersion, &req.Version) != nil {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w: 'version' must be an integer", ErrInvalidMessage)
	}
	return req, rest, nil
}

// AppendHandshakeResponse appends the handshake reply: {} on success, or
// {"error":"..."} when errText is not empty, followed by the record separator.
func AppendHandshakeResponse(dst []byte, errText string) []byte {
	if errText == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = append(dst, `{"error":`...)
	dst = appendString(dst, errText)
	return append(dst, '}', RecordSeparator)
}

// ParseHandshakeResponse reads the server's handshake reply at the start of unit and
// returns its error text (empty on success) and the bytes after it. Clients use it.
func ParseHandshakeResponse(unit []byte) (errText string, rest []byte, err error) {
	record, rest, ok, err := NextRecord(unit)
	if err != nil {
		return "", nil, fmt.Errorf("handshake response: %w", err)
	}
	if !ok {
		return "", nil, fmt.Errorf("handshake response: %w: empty", ErrInvalidMessage)
	}
	var resp struct {
		Error string           `json:"error"`
		Type  *json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(record), &resp); err != nil {
		return "", nil, fmt.Errorf("handshake response: %w: %v", ErrInvalidMessage, err)
	}
	if resp.Type != nil {
		return "", nil, fmt.Errorf("handshake response: %w: a hub message arrived before the handshake reply", ErrInvalidMessage)
	}
	return resp.Error, rest, nil
}
