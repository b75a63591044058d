package jwtauth_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubbub-go/hubbub/auth/jwtauth"
)

var secret = []byte("test-secret")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	auth := jwtauth.Authenticate(jwtauth.Options{Secret: secret, Leeway: time.Second})
	valid := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	tests := []struct {
		name   string
		header string
		query  string
		user   string
		err    error
		reason string
	}{
		{name: "header", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid), user: "alice"},
		{name: "lower-case scheme", header: "bearer " + sign(t, jwt.SigningMethodHS256, secret, valid), user: "alice"},
		{name: "query parameter", query: sign(t, jwt.SigningMethodHS256, secret, valid), user: "alice"},
		{name: "no token", err: jwtauth.ErrNoToken},
		{name: "garbage", header: "Bearer not.a.jwt", err: jwtauth.ErrInvalidToken, reason: "malformed token"},
		{name: "wrong secret", header: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("other"), valid), err: jwtauth.ErrInvalidToken, reason: "bad signature"},
		{name: "expired", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()}), err: jwtauth.ErrInvalidToken, reason: "token expired"},
		{name: "no expiry", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"}), err: jwtauth.ErrInvalidToken, reason: "missing required claim"},
		{name: "no subject", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}), err: jwtauth.ErrInvalidToken, reason: `no "sub" claim`},
		{name: "alg none", header: "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), err: jwtauth.ErrInvalidToken},
		{name: "other HMAC method not allowed", header: "Bearer " + sign(t, jwt.SigningMethodHS512, secret, valid), err: jwtauth.ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hub/negotiate?access_token="+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			id, err := auth(r)
			user := id.UserID
			if !errors.Is(err, tc.err) || user != tc.user {
				t.Fatalf("got (%q, %v), want (%q, %v)", user, err, tc.user, tc.err)
			}
			if tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

func TestNoSecretRefusesEverything(t *testing.T) {
	auth := jwtauth.Authenticate(jwtauth.Options{})
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, []byte("x"), jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}))
	if _, err := auth(r); !errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Fatalf("got %v, want ErrInvalidToken", err)
	}
}
