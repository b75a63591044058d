package jwtauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubbub-go/hubbub/auth/jwtauth"
	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
)

// A hub that takes JWT bearer tokens: the token's sub is the user, its claims
// authorize methods (hub.RequireClaim), and a bad or expired token is refused
// with 401 before any connection exists.
func Example() {
	key := []byte("a secret shared with the identity provider")
	h := hub.New(hub.Options{
		Name:         "newsroom",
		Authenticate: jwtauth.Authenticate(jwtauth.Options{Secret: key}),
	})
	h.On("Publish", func(ctx *hub.Context, text string) string {
		return ctx.UserID() + " published " + text
	}, hub.RequireClaim("roles", "editor"))
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The identity provider signs the tokens; here the example does.
	sign := func(claims jwt.MapClaims) string {
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			log.Fatal(err)
		}
		return token
	}
	inAnHour := time.Now().Add(time.Hour).Unix()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(token string) (*client.Conn, error) {
		return client.Dial(ctx, srv.URL, client.Options{
			AccessToken: func(context.Context) (string, error) { return token, nil },
		})
	}

	for _, claims := range []jwt.MapClaims{
		{"sub": "ada", "roles": []string{"editor"}, "exp": inAnHour},
		{"sub": "bob", "roles": []string{"reader"}, "exp": inAnHour},
	} {
		conn, err := dial(sign(claims))
		if err != nil {
			log.Fatal(err)
		}
		if text, err := client.InvokeAs[string](ctx, conn, "Publish", "the news"); err != nil {
			fmt.Println(err) // bob is no editor
		} else {
			fmt.Println(text)
		}
		conn.Close()
	}

	expired := sign(jwt.MapClaims{"sub": "ada", "exp": time.Now().Add(-time.Hour).Unix()})
	_, err := dial(expired)
	var refused *client.HTTPError
	if errors.As(err, &refused) {
		fmt.Println(refused.StatusCode, refused.Body)
	}
	// Output:
	// ada published the news
	// client: Publish failed: Failed to invoke 'Publish' because user is unauthorized
	// 401 Unauthorized: invalid token: token expired
}
