package protocol_test

import (
	"fmt"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Parse one unit as the official JavaScript client sends it (several records, each
// ending with the record separator 0x1E), then encode the Completion for the invoke.
func Example() {
	unit := []byte("{\"type\":6}\x1e{\"target\":\"Echo\",\"arguments\":[\"hi\"],\"invocationId\":\"0\",\"type\":1}\x1e")
	msgs, err := protocol.JSON.ParseMessages(unit, nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, m := range msgs {
		fmt.Printf("%s id=%q target=%q args=%q\n", m.Type, m.InvocationID, m.Target, m.Arguments)
	}

	completion := protocol.Message{Type: protocol.CompletionType, InvocationID: msgs[1].InvocationID, Result: msgs[1].Arguments[0]}
	frame, err := protocol.JSON.AppendMessage(nil, &completion)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", frame)

	void := protocol.Message{Type: protocol.CompletionType, InvocationID: "1"}
	frame, _ = protocol.JSON.AppendMessage(frame[:0], &void)
	fmt.Printf("%q\n", frame)
	// Output:
	// Ping id="" target="" args=[]
	// Invocation id="0" target="Echo" args=["\"hi\""]
	// "{\"type\":3,\"invocationId\":\"0\",\"result\":\"hi\"}\x1e"
	// "{\"type\":3,\"invocationId\":\"1\"}\x1e"
}
