package chat

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
)

// DemoUsers are the accounts a fresh server knows, nickname to password. The login
// page and docs/demo.md list them.
var DemoUsers = map[string]string{
	"alice": "alice123",
	"bob":   "bob123",
	"carol": "carol123",
}

// pbkdf2Iterations is the PBKDF2-HMAC-SHA256 work factor (about 20 ms per check on
// one core of a 2020s server). The tests lower it (export_test.go): under the race
// detector one check takes a quarter of a second.
var pbkdf2Iterations = 100_000

// Users is an in-memory user store: nicknames with salted PBKDF2-HMAC-SHA256
// password hashes. Nicknames are case-insensitive. It is safe for concurrent use.
type Users struct {
	mu    sync.RWMutex
	users map[string]credential
	dummy credential // checked against for unknown nicknames, so both cost the same
}

type credential struct {
	salt []byte
	hash []byte
}

// NewUsers returns a store holding the given nickname → password accounts.
func NewUsers(accounts map[string]string) (*Users, error) {
	u := &Users{users: map[string]credential{}, dummy: newCredential("not a password")}
	for nick, password := range accounts {
		if err := u.Add(nick, password); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Add creates or replaces an account. The nickname must be valid (see ValidNick).
func (u *Users) Add(nick, password string) error {
	nick = strings.ToLower(nick)
	if err := ValidNick(nick); err != nil {
		return fmt.Errorf("chat: add user: %w", err)
	}
	if password == "" {
		return fmt.Errorf("chat: add user %q: empty password", nick)
	}
	c := newCredential(password)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users[nick] = c
	return nil
}

// Check reports whether password is nick's, and returns the canonical (lower-case)
// nickname. Unknown nicknames take as long as wrong passwords.
func (u *Users) Check(nick, password string) (string, bool) {
	nick = strings.ToLower(strings.TrimSpace(nick))
	u.mu.RLock()
	c, known := u.users[nick]
	u.mu.RUnlock()
	if !known {
		c = u.dummy
	}
	ok := c.matches(password)
	return nick, known && ok
}

// Known reports whether nick has an account.
func (u *Users) Known(nick string) bool {
	u.mu.RLock()
	defer u.mu.RUnlock()
	_, ok := u.users[strings.ToLower(nick)]
	return ok
}

func newCredential(password string) credential {
	salt := make([]byte, 16)
	rand.Read(salt) // never fails (crypto/rand since Go 1.24)
	return credential{salt: salt, hash: derive(password, salt)}
}

func (c credential) matches(password string) bool {
	return subtle.ConstantTimeCompare(derive(password, c.salt), c.hash) == 1
}

func derive(password string, salt []byte) []byte {
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil { // only for parameters out of FIPS bounds, which these are not
		panic(err)
	}
	return key
}
