package suite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// GoClientThroughCluster runs the conformance scenarios with the Go client
// through the round-robin proxy in front of three nodes, on each transport: every
// request of a connection may land on any node, and the receivers of each send are
// spread over the nodes.
func GoClientThroughCluster[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dial := func(user string) (*client.Conn, chan string) {
				conn, err := client.New(c.URL+"/hubs/conformance?user="+user, client.Options{Transports: kind})
				if err != nil {
					t.Fatal(err)
				}
				got := make(chan string, 16)
				conn.On("event", func(args []protocol.RawValue) {
					var s string
					client.DecodeArgs(args, &s)
					got <- s
				})
				if err := conn.Start(ctx); err != nil {
					t.Fatalf("start: %v", err)
				}
				t.Cleanup(func() { conn.Close() })
				return conn, got
			}
			expect := func(ch chan string, want string) {
				t.Helper()
				select {
				case s := <-ch:
					if s != want {
						t.Errorf("got %q, want %q", s, want)
					}
				case <-ctx.Done():
					t.Fatalf("no %q", want)
				}
			}
			a, gotA := dial("ann")
			b, gotB := dial("bob")
			d, gotD := dial("dan")
			if a.Transport() != kind {
				t.Fatalf("transport %v", a.Transport())
			}
			owners := map[int]bool{}
			for _, conn := range []*client.Conn{a, b, d} {
				owners[c.Owner(conn.ConnectionID())] = true
			}
			t.Logf("connections on nodes %v", owners)

			if sum, err := client.InvokeAs[int](ctx, a, "Add", 2, 3); err != nil || sum != 5 {
				t.Errorf("Add: %v %v", sum, err)
			}
			var invErr *client.InvocationError
			if _, err := a.Invoke(ctx, "Fail", "boom"); !errors.As(err, &invErr) || invErr.Message != "boom" {
				t.Errorf("Fail: %v", err)
			}
			if _, err := a.Invoke(ctx, "Broadcast", "event", "to all"); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []chan string{gotA, gotB, gotD} {
				expect(ch, "to all")
			}
			for _, conn := range []*client.Conn{b, d} {
				if _, err := conn.Invoke(ctx, "JoinGroup", "g"); err != nil {
					t.Fatal(err)
				}
			}
			members, err := client.InvokeAs[[]string](ctx, a, "GroupMembers", "g")
			want := []string{b.ConnectionID(), d.ConnectionID()}
			slices.Sort(want)
			if err != nil || !slices.Equal(members, want) {
				t.Errorf("GroupMembers: %v %v, want %v", members, err, want)
			}
			if _, err := a.Invoke(ctx, "SendToGroup", "g", "event", "to g"); err != nil {
				t.Fatal(err)
			}
			expect(gotB, "to g")
			expect(gotD, "to g")
			if _, err := a.Invoke(ctx, "SendToConnection", d.ConnectionID(), "event", "to d"); err != nil {
				t.Fatal(err)
			}
			expect(gotD, "to d")
			if _, err := d.Invoke(ctx, "SendToUser", "bob", "event", "to bob"); err != nil {
				t.Fatal(err)
			}
			expect(gotB, "to bob")

			s, err := b.Stream(ctx, "Counter", 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			var items []int
			for n, err := range client.Items[int](s) {
				if err != nil {
					t.Fatal(err)
				}
				items = append(items, n)
			}
			if fmt.Sprint(items) != "[0 1 2]" {
				t.Errorf("Counter: %v", items)
			}
			up := client.NewUploadStream()
			res := make(chan float64, 1)
			go func() {
				v, _ := client.InvokeAs[float64](ctx, d, "Sum", up)
				res <- v
			}()
			for _, n := range []float64{1, 2, 3.5} {
				if err := up.Send(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			up.Close()
			if v := <-res; v != 6.5 {
				t.Errorf("Sum: %v", v)
			}
			// Nothing was lost or duplicated: each queue is empty.
			for name, ch := range map[string]chan string{"ann": gotA, "bob": gotB, "dan": gotD} {
				if len(ch) != 0 {
					t.Errorf("%s got extra messages: %d", name, len(ch))
				}
			}
		})
	}
}
