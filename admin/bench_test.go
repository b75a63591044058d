package admin_test

import (
	"testing"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/transports"
)

// BenchmarkSent is the dashboard's cost on the hottest Observer call: one per
// unit written to a client, from every connection's writer at once.
func BenchmarkSent(b *testing.B) {
	d, err := admin.New(admin.Options{Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Sent("chat", transports.WebSockets, 100, 1)
		}
	})
}
