// Compiled by `npm run check:types`: the package as TypeScript code that
// requires it (CommonJS) sees it, through the "require" condition's .d.cts.
import hubbub = require('hubbub-client');
import msgpack = require('hubbub-client/msgpack');

const hub: hubbub.HubConnection = hubbub.connect('/hubs/chat', { protocol: msgpack.protocol(), transports: ['websocket', 'longpolling'] });
const delay: number | null = hubbub.reconnectDelay(1, { delay: 100 });
const packed: Uint8Array = msgpack.encode({ a: 1 });
export = { hub, delay, packed };
