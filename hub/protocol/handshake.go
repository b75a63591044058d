package protocol

import (
	"bytes"
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
//
// The request must be a JSON object with a non-empty string "protocol" and an
// integer "version"; other properties are ignored. A unit without a record
// separator (including an empty unit) is an error wrapping [ErrIncomplete]; anything
// else that is wrong wraps [ErrInvalidMessage]. Whether the named protocol and version
// are supported is for the caller to decide.
func ParseHandshakeRequest(unit []byte) (HandshakeRequest, []byte, error) {
	if len(unit) == 0 {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: protocol: %w: empty unit", ErrIncomplete)
	}
	record, rest, _, err := NextRecord(unit)
	if err != nil {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w", err)
	}
	obj, err := parseJSONObject(record)
	if err != nil {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: %w", err)
	}
	var req HandshakeRequest
	name, _, err := obj.str("protocol")
	if err != nil || name == "" {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: protocol: %w: 'protocol' must be a non-empty string", ErrInvalidMessage)
	}
	version, ok, err := obj.integer("version")
	if err != nil || !ok || version != int64(int32(version)) {
		return HandshakeRequest{}, nil, fmt.Errorf("handshake: protocol: %w: 'version' must be an integer", ErrInvalidMessage)
	}
	req.Protocol, req.Version = name, int(version)
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
// Like the official client it refuses a reply that has a "type" property (a hub
// message sent before the handshake reply).
func ParseHandshakeResponse(unit []byte) (errText string, rest []byte, err error) {
	if len(unit) == 0 {
		return "", nil, fmt.Errorf("handshake response: protocol: %w: empty unit", ErrIncomplete)
	}
	record, rest, _, err := NextRecord(unit)
	if err != nil {
		return "", nil, fmt.Errorf("handshake response: %w", err)
	}
	obj, err := parseJSONObject(bytes.TrimSpace(record))
	if err != nil {
		return "", nil, fmt.Errorf("handshake response: %w", err)
	}
	if _, ok := obj.get("type"); ok {
		return "", nil, fmt.Errorf("handshake response: protocol: %w: a hub message arrived before the handshake reply", ErrInvalidMessage)
	}
	errText, _, err = obj.str("error")
	if err != nil {
		return "", nil, fmt.Errorf("handshake response: %w", err)
	}
	return errText, rest, nil
}
