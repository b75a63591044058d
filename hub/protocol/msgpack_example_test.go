package protocol_test

import (
	"fmt"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Parse a unit as @microsoft/signalr-protocol-msgpack sends it (a ping, then an
// invoke of Echo with a Uint8Array), decode the argument, and answer with the same
// bytes as the Completion's result.
func ExampleMessagePack() {
	unit := []byte("\x02\x91\x06" + // [6]
		"\x10\x95\x01\x80\xa1\x30\xa4Echo\x91\xc4\x03\x01\x02\x03") // [1, {}, "0", "Echo", [bin(010203)]]
	msgs, err := protocol.MessagePack.ParseMessages(unit, nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	invoke := msgs[1]
	var data []byte
	if err := protocol.MessagePack.DecodeValue(invoke.Arguments[0], &data); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%s, %s id=%q target=%q data=%v\n", msgs[0].Type, invoke.Type, invoke.InvocationID, invoke.Target, data)

	result, _ := protocol.MessagePack.EncodeValue(data)
	completion := protocol.Message{Type: protocol.CompletionType, InvocationID: invoke.InvocationID, Result: result}
	frame, err := protocol.MessagePack.AppendMessage(nil, &completion)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("% x\n", frame)
	// Output:
	// Ping, Invocation id="0" target="Echo" data=[1 2 3]
	// 0b 95 03 80 a1 30 03 c4 03 01 02 03
}
