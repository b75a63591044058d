package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// dial serves the conformance hub on loopback and connects a Go client to it.
func dial(t *testing.T, opts client.Options) *client.Conn {
	t.Helper()
	h := conformance.NewHub(hub.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// protocols are the hub protocols every test runs in.
var protocols = []protocol.Protocol{protocol.JSON, protocol.MessagePack}

// TestEchoBytes: EchoBytes takes and returns a []byte, which JSON carries as base64
// and MessagePack as bin.
func TestEchoBytes(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) { testEchoBytes(t, p) })
	}
}

func testEchoBytes(t *testing.T, p protocol.Protocol) {
	c := dial(t, client.Options{Protocol: p})
	ctx := testCtx(t)
	for _, in := range [][]byte{{}, {0, 1, 0x1e, 0x7b, 0xff}, bytes.Repeat([]byte{0xab}, 20000)} {
		got, err := client.InvokeAs[[]byte](ctx, c, "EchoBytes", in)
		if err != nil {
			t.Fatalf("EchoBytes(%d bytes): %v", len(in), err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("EchoBytes(%d bytes) = %d different bytes", len(in), len(got))
		}
	}
	if p.Name() == "json" {
		var invErr *client.InvocationError
		if _, err := c.Invoke(ctx, "EchoBytes", "not base64!"); !errors.As(err, &invErr) {
			t.Errorf("EchoBytes(not base64) = %v, want an invocation error", err)
		}
	}
}

// TestInvokeCaller: the hub asks the caller for a client result and returns it, or
// the client's error, or the error of a client without a handler.
func TestInvokeCaller(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) { testInvokeCaller(t, p) })
	}
}

func testInvokeCaller(t *testing.T, p protocol.Protocol) {
	c := dial(t, client.Options{Protocol: p})
	c.OnInvoke("GetAnswer", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		var q int
		if err := c.DecodeArgs(args, &q); err != nil {
			return nil, err
		}
		if q < 0 {
			return nil, errors.New("negative questions are not allowed")
		}
		return map[string]int{"answer": q + 1}, nil
	})
	ctx := testCtx(t)
	type answer struct {
		Answer int `json:"answer"`
	}
	if got, err := client.InvokeAs[answer](ctx, c, "InvokeCaller", "getanswer", 41); err != nil || got.Answer != 42 {
		t.Errorf("InvokeCaller(getanswer, 41) = %+v, %v; want {Answer:42}", got, err)
	}
	for _, tc := range []struct {
		method  string
		arg     any
		wantErr string
	}{
		{"GetAnswer", -1, "negative questions are not allowed"},
		{"NoSuchHandler", nil, "Client didn't provide a result."},
	} {
		var invErr *client.InvocationError
		_, err := c.Invoke(ctx, "InvokeCaller", tc.method, tc.arg)
		if !errors.As(err, &invErr) || !strings.Contains(invErr.Message, tc.wantErr) {
			t.Errorf("InvokeCaller(%s, %v) = %v, want an invocation error containing %q", tc.method, tc.arg, err, tc.wantErr)
		}
	}
}
