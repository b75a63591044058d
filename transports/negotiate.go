package transports

import (
	"crypto/rand"
	"encoding/base64"
)

// NegotiateResponse is the body of a negotiate reply (negotiate version 0 and 1),
// also used for the redirect and refusal shapes. Field names and casing are the
// wire's; empty fields are left out.
type NegotiateResponse struct {
	ConnectionID         string               `json:"connectionId,omitempty"`
	ConnectionToken      string               `json:"connectionToken,omitempty"`
	NegotiateVersion     int                  `json:"negotiateVersion"`
	AvailableTransports  []AvailableTransport `json:"availableTransports"`
	UseStatefulReconnect bool                 `json:"useStatefulReconnect,omitempty"`
	URL                  string               `json:"url,omitempty"`
	AccessToken          string               `json:"accessToken,omitempty"`
	Error                string               `json:"error,omitempty"`
}

// AvailableTransport is one entry of availableTransports.
type AvailableTransport struct {
	Transport       string   `json:"transport"`
	TransferFormats []string `json:"transferFormats"`
}

// Offer lists the transports in set (in preference order) with their transfer formats:
// SSE carries text only.
func Offer(set Kind) []AvailableTransport {
	offer := []AvailableTransport{}
	for _, k := range Kinds {
		if set&k == 0 {
			continue
		}
		formats := []string{"Text", "Binary"}
		if k == ServerSentEvents {
			formats = []string{"Text"}
		}
		offer = append(offer, AvailableTransport{Transport: k.String(), TransferFormats: formats})
	}
	return offer
}

// NewToken returns 16 random bytes, base64url without padding (22 characters from
// [A-Za-z0-9_-]): safe in a query string without escaping, as the official client
// appends it unescaped. Use it for both connection IDs and connection tokens.
func NewToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("transports: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
