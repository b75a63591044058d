package hub_test

import (
	"sync"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
)

// OnConnected and OnDisconnected may be set while the hub serves: connections
// that open and end meanwhile run the old hook or the new one, never a torn one
// (run with -race).
func TestLifecycleHooksSetWhileServing(t *testing.T) {
	srv, h := server(t, hub.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.OnConnected(func(*hub.Context) error { return nil })
			h.OnDisconnected(func(*hub.Context, error) {})
		}
	}()
	for range 5 {
		ws := dialWS(t, srv)
		write(t, ws, `{"type":1,"invocationId":"1","target":"Echo","arguments":["hi"]}`+rs)
		read(t, ws)
		ws.Close()
	}
	close(stop)
	wg.Wait()
}
