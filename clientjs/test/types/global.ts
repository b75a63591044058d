// The classic script's global, as a page using <script src=".../hubbub.js"> sees it.
const hub: Hubbub.HubConnection = Hubbub.connect('/hubs/chat', { logger: Hubbub.LogLevel.Debug });
hub.on('tick', (n: number) => n);
// And the MessagePack protocol's, from <script src=".../hubbub-msgpack.js">.
const binary: Hubbub.HubConnection = new Hubbub.HubConnection('/hubs/chat', { protocol: HubbubMsgPack.protocol(), transports: ['websocket', 'longpolling'] });
const packed: Uint8Array = HubbubMsgPack.encode({ a: 1 });
console.log(binary.state, HubbubMsgPack.decode(packed));
