package protocol

import (
	"errors"
	"testing"
)

func TestParseHandshakeRequest(t *testing.T) {
	tests := []struct {
		name     string
		unit     string
		want     HandshakeRequest
		wantRest string
	}{
		{name: "json v1 (observed)", unit: `{"protocol":"json","version":1}` + rs, want: HandshakeRequest{"json", 1}},
		{name: "json v2 with stateful reconnect (observed)", unit: `{"protocol":"json","version":2}` + rs, want: HandshakeRequest{"json", 2}},
		{name: "messagepack", unit: `{"protocol":"messagepack","version":1}` + rs, want: HandshakeRequest{"messagepack", 1}},
		{name: "spec example with whitespace", unit: "{\n    \"protocol\": \"messagepack\",\n    \"version\": 1\n}" + rs, want: HandshakeRequest{"messagepack", 1}},
		{name: "field order does not matter", unit: `{"version":1,"protocol":"json"}` + rs, want: HandshakeRequest{"json", 1}},
		{name: "extra unknown fields are fine", unit: `{"protocol":"json","version":1,"extra":{"a":[1]},"type":3}` + rs, want: HandshakeRequest{"json", 1}},
		{name: "unsupported protocol still parses", unit: `{"protocol":"xml","version":99}` + rs, want: HandshakeRequest{"xml", 99}},
		{name: "negative version parses (the caller refuses it)", unit: `{"protocol":"json","version":-1}` + rs, want: HandshakeRequest{"json", -1}},
		{
			name:     "messages batched behind the handshake are returned as rest",
			unit:     `{"protocol":"json","version":1}` + rs + `{"type":6}` + rs + `{"type":1,"target":"A","arguments":[]}` + rs,
			want:     HandshakeRequest{"json", 1},
			wantRest: `{"type":6}` + rs + `{"type":1,"target":"A","arguments":[]}` + rs,
		},
		{
			name:     "rest may be a cut record; that is for ParseMessages to judge",
			unit:     `{"protocol":"json","version":1}` + rs + `{"ty`,
			want:     HandshakeRequest{"json", 1},
			wantRest: `{"ty`,
		},
		{
			name:     "rest may be binary (messagepack frames)",
			unit:     `{"protocol":"messagepack","version":1}` + rs + "\x02\x91\x06\xff",
			want:     HandshakeRequest{"messagepack", 1},
			wantRest: "\x02\x91\x06\xff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := ParseHandshakeRequest([]byte(tt.unit))
			if err != nil {
				t.Fatalf("ParseHandshakeRequest: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if string(rest) != tt.wantRest {
				t.Fatalf("rest = %q, want %q", rest, tt.wantRest)
			}
		})
	}
}

func TestParseHandshakeRequestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		unit    string
		wantErr error
	}{
		{"empty unit", "", ErrIncomplete},
		{"no record separator", `{"protocol":"json","version":1}`, ErrIncomplete},
		{"cut request", `{"protocol":"js`, ErrIncomplete},
		{"empty record", rs, ErrInvalidMessage},
		{"malformed JSON", `{"protocol":"json",` + rs, ErrInvalidMessage},
		{"not an object", `["json",1]` + rs, ErrInvalidMessage},
		{"null", `null` + rs, ErrInvalidMessage},
		{"missing protocol", `{"version":1}` + rs, ErrInvalidMessage},
		{"empty protocol", `{"protocol":"","version":1}` + rs, ErrInvalidMessage},
		{"protocol not a string", `{"protocol":1,"version":1}` + rs, ErrInvalidMessage},
		{"protocol null", `{"protocol":null,"version":1}` + rs, ErrInvalidMessage},
		{"protocol with wrong case", `{"Protocol":"json","version":1}` + rs, ErrInvalidMessage},
		{"missing version", `{"protocol":"json"}` + rs, ErrInvalidMessage},
		{"version null", `{"protocol":"json","version":null}` + rs, ErrInvalidMessage},
		{"version a string", `{"protocol":"json","version":"1"}` + rs, ErrInvalidMessage},
		{"version a float", `{"protocol":"json","version":1.5}` + rs, ErrInvalidMessage},
		{"version huge", `{"protocol":"json","version":1e400}` + rs, ErrInvalidMessage},
		{"version beyond int32", `{"protocol":"json","version":4294967297}` + rs, ErrInvalidMessage},
		{"invalid UTF-8", "{\"protocol\":\"js\xffon\",\"version\":1}" + rs, ErrInvalidMessage},
		{"trailing garbage inside the record", `{"protocol":"json","version":1} x` + rs, ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := ParseHandshakeRequest([]byte(tt.unit))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseHandshakeRequest(%q) = %+v, %v; want error %v", tt.unit, got, err, tt.wantErr)
			}
			if got != (HandshakeRequest{}) || rest != nil {
				t.Fatalf("on error got %+v, rest %q; want zero values", got, rest)
			}
		})
	}
}

func TestAppendHandshakeResponse(t *testing.T) {
	tests := []struct {
		name    string
		errText string
		want    string
	}{
		{"success is exactly what .NET writes", "", "{}" + rs},
		{"error", "The protocol 'x' is not supported.", `{"error":"The protocol 'x' is not supported."}` + rs},
		{"error is escaped", "a\"b\n\x1e\xff", `{"error":"a\"b\n\u001e\ufffd"}` + rs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendHandshakeResponse([]byte("x"), tt.errText)
			if string(got) != "x"+tt.want {
				t.Fatalf("AppendHandshakeResponse(%q) = %q, want %q", tt.errText, got, "x"+tt.want)
			}
			errText, rest, err := ParseHandshakeResponse(got[1:])
			if err != nil || len(rest) != 0 || errText != string([]rune(tt.errText)) {
				t.Fatalf("ParseHandshakeResponse of our reply = %q, %q, %v", errText, rest, err)
			}
		})
	}
}

func TestParseHandshakeResponse(t *testing.T) {
	tests := []struct {
		name     string
		unit     string
		wantErr  error
		wantText string
		wantRest string
	}{
		{name: "success", unit: "{}" + rs},
		{name: "success with whitespace", unit: " {\n} " + rs},
		{name: "error", unit: `{"error":"Requested protocol 'messagepack' is not available."}` + rs, wantText: "Requested protocol 'messagepack' is not available."},
		{name: "null error is success", unit: `{"error":null}` + rs},
		{name: "unknown fields are fine", unit: `{"minorVersion":0}` + rs},
		{name: "messages after the reply are rest", unit: "{}" + rs + `{"type":6}` + rs, wantRest: `{"type":6}` + rs},
		{name: "empty unit", unit: "", wantErr: ErrIncomplete},
		{name: "no separator", unit: "{}", wantErr: ErrIncomplete},
		{name: "ping before the reply", unit: `{"type":6}` + rs + "{}" + rs, wantErr: ErrInvalidMessage},
		{name: "type null still a hub message", unit: `{"type":null}` + rs, wantErr: ErrInvalidMessage},
		{name: "not an object", unit: `[]` + rs, wantErr: ErrInvalidMessage},
		{name: "null", unit: `null` + rs, wantErr: ErrInvalidMessage},
		{name: "error not a string", unit: `{"error":1}` + rs, wantErr: ErrInvalidMessage},
		{name: "malformed", unit: `{"error":` + rs, wantErr: ErrInvalidMessage},
		{name: "empty record", unit: rs, wantErr: ErrInvalidMessage},
		{name: "invalid UTF-8", unit: "{\"error\":\"\xff\"}" + rs, wantErr: ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, rest, err := ParseHandshakeResponse([]byte(tt.unit))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseHandshakeResponse(%q) error = %v, want %v", tt.unit, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHandshakeResponse(%q): %v", tt.unit, err)
			}
			if text != tt.wantText || string(rest) != tt.wantRest {
				t.Fatalf("got %q, rest %q; want %q, rest %q", text, rest, tt.wantText, tt.wantRest)
			}
		})
	}
}
