package redis_test

import (
	"bufio"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/redis"
)

// TestURLCredentials: the user and password of a Sentinel or Redis Cluster URL
// reach Redis as written, percent-encoded characters included: each is decoded
// after the userinfo is split at its first ':', as for redis:// URLs, so that a
// ':' in a password (%3A) or a user name stays in it. A fake Redis on loopback
// records the HELLO each connection starts with.
func TestURLCredentials(t *testing.T) {
	tests := []struct {
		userinfo       string
		user, password string
	}{
		{"u:p%40ss", "u", "p@ss"},
		{":p%40s%3As", "default", "p@s:s"},
		{"u:p:q", "u", "p:q"},
		{"u%3Ax:p", "u:x", "p"},
		{"pa%3Ass", "default", "pa:ss"}, // a password alone, as the backplane takes it
		{"p%2F%3F%23%25", "default", "p/?#%"},
	}
	for _, tc := range tests {
		t.Run(tc.userinfo, func(t *testing.T) {
			// The Sentinel and Cluster URLs share their parser; on Redis Cluster
			// the first connection is the seed's, and carries the URL's
			// credentials.
			addr, hellos := fakeRedis(t)
			u := "redis+cluster://" + tc.userinfo + "@" + addr
			b, err := redis.New(redis.Options{URL: u, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			hello := <-hellos
			b.Close()
			want := []string{"hello", "3", "auth", tc.user, tc.password}
			if !slices.Equal(hello[:min(len(hello), 5)], want) {
				t.Errorf("%s: Redis got %q, want %q", u, hello, want)
			}
		})
	}
}

// fakeRedis accepts connections on loopback and sends the first command of
// each on the channel, answering it, and all after it, with an error.
func fakeRedis(t *testing.T) (string, <-chan []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	first := make(chan []string, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				for n := 0; ; n++ {
					cmd, err := readCommand(rd)
					if err != nil {
						return
					}
					if n == 0 {
						select {
						case first <- cmd:
						default:
						}
					}
					if _, err := c.Write([]byte("-WRONGPASS fake\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), first
}

// readCommand reads one RESP array of bulk strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		if _, err := rd.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(arg, "\r\n")
	}
	return args, nil
}
