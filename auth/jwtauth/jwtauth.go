// Package jwtauth authenticates hub connections with JWT bearer tokens, as
// [hub.Options.Authenticate].
//
// The token comes from the Authorization header ("Bearer <jwt>") or, because
// browsers cannot set headers on WebSocket and EventSource requests, from the
// access_token query parameter: the official SignalR clients send it there. Only
// the signing methods you list are accepted (HS256 by default), so a token cannot
// pick its own algorithm ("none", or an HMAC keyed with a public key).
package jwtauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubbub-go/hubbub/hub"
)

// Options configure token validation.
type Options struct {
	// Secret is the HMAC key. Required unless Keyfunc is set.
	Secret []byte
	// Keyfunc, when set, supplies the verification key (for RSA or ECDSA keys).
	Keyfunc jwt.Keyfunc
	// Methods lists the accepted signing methods. Default ["HS256"].
	Methods []string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// UserClaim is the claim holding the user ID. Default "sub".
	UserClaim string
	// Leeway tolerates clock skew on exp and nbf. Default 30 s.
	Leeway time.Duration
}

// Errors callers tell apart. Their text is what the client sees with the 401.
var (
	ErrNoToken      = errors.New("missing bearer token")
	ErrInvalidToken = errors.New("invalid token")
)

// Authenticate returns a [hub.Options.Authenticate] function validating the request's
// bearer token. The identity's user is the UserClaim, its expiry the token's exp (the
// hub closes the connection then), its claims all of the token's.
func Authenticate(opts Options) func(r *http.Request) (hub.Identity, error) {
	if len(opts.Methods) == 0 {
		opts.Methods = []string{"HS256"}
	}
	if opts.UserClaim == "" {
		opts.UserClaim = "sub"
	}
	if opts.Leeway <= 0 {
		opts.Leeway = 30 * time.Second
	}
	keyfunc := opts.Keyfunc
	if keyfunc == nil {
		keyfunc = func(*jwt.Token) (any, error) {
			if len(opts.Secret) == 0 {
				return nil, errors.New("no secret configured")
			}
			return opts.Secret, nil
		}
	}
	parserOpts := []jwt.ParserOption{jwt.WithValidMethods(opts.Methods), jwt.WithLeeway(opts.Leeway), jwt.WithExpirationRequired()}
	if opts.Issuer != "" {
		parserOpts = append(parserOpts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		parserOpts = append(parserOpts, jwt.WithAudience(opts.Audience))
	}
	parser := jwt.NewParser(parserOpts...)
	return func(r *http.Request) (hub.Identity, error) {
		raw := Token(r)
		if raw == "" {
			return hub.Identity{}, ErrNoToken
		}
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(raw, claims, keyfunc); err != nil {
			return hub.Identity{}, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
		}
		user, _ := claims[opts.UserClaim].(string)
		if user == "" {
			return hub.Identity{}, fmt.Errorf("%w: no %q claim", ErrInvalidToken, opts.UserClaim)
		}
		id := hub.Identity{UserID: user, Claims: claims}
		if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
			id.ExpiresAt = exp.Time.Add(opts.Leeway)
		}
		return id, nil
	}
}

// reason turns a parse error into a short phrase safe to show the client.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong issuer or audience"
	}
	return "rejected"
}

// Token returns the bearer token of r: the Authorization header, else the
// access_token query parameter.
func Token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("access_token")
}
