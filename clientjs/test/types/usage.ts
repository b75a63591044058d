// Compiled by `npm run check:types` (tsc --noEmit) to check dist/hubbub.d.ts.
import { connect, HubConnection, LogLevel, reconnectDelay, type HubProtocol, type HubStream, type ILogger, type TransportName } from 'hubbub-client';
import { decode, encode, protocol } from 'hubbub-client/msgpack';

async function main(): Promise<void> {
  const hub = connect('/hubs/chat', {
    transports: ['websocket', 'sse', 'longpolling'],
    probeTimeout: 1500,
    reconnect: { delay: 500, maxDelay: 10000, jitter: 0.5 },
    accessTokenFactory: async () => 'token',
    storage: null,
    reconnectWindow: 20000,
    statefulReconnect: true,
    statefulReconnectBufferSize: 50000,
  });
  hub.on('message', (user: string, text: string) => console.log(user, text)).off('message');
  const off: () => void = hub.onreconnected((id: string, { resumed }) => console.log(id, resumed ? 'resumed' : 'state lost'));
  off();
  hub.onclose((e?: Error) => console.log(e?.message));
  await hub.start();
  const sum: number = await hub.invoke<number>('Add', 1, 2);
  await hub.send('Broadcast', 'event', { sum });
  const echoed = await hub.timeout(5000).invoke<string>('Echo', 'hi');
  const s: HubStream<number> = hub.stream<number>('Counter', 10, 100);
  for await (const n of s) if (n > 3) break;
  s.cancel();
  async function* numbers() { yield 1; yield 2; }
  await hub.invoke('Sum', numbers());
  const t: TransportName | null = hub.transport;
  const state: 'disconnected' | 'connecting' | 'connected' | 'reconnecting' = hub.state;
  const other = new HubConnection('http://127.0.0.1:1/hub', { reconnect: (attempt) => (attempt < 3 ? 1000 : null), logger: LogLevel.Warning });
  const mine: ILogger = { log: (level: LogLevel, message: string) => { if (level >= LogLevel.Warning) console.warn(message); } };
  new HubConnection('/hubs/chat', { logger: mine });
  new HubConnection('/hubs/chat', { logger: LogLevel.None });
  new HubConnection('/hubs/chat', { logger: 3 });
  // @ts-expect-error: a level is a LogLevel number, not a name
  new HubConnection('/hubs/chat', { logger: 'warning' });
  const d: number | null = reconnectDelay(0, { delay: 100 });
  console.log(echoed, t, state, other.connected, d);
  await hub.stop();

  const msgpack: HubProtocol = protocol();
  const binary = connect('/hubs/chat', { protocol: msgpack, transports: ['websocket', 'longpolling'] });
  const bytes: Uint8Array = await binary.invoke<Uint8Array>('Echo', new Uint8Array([1, 2, 3]));
  const back: unknown = decode(encode({ bytes, when: new Date() }));
  console.log(protocol().name === 'messagepack', back);
}
void main;
