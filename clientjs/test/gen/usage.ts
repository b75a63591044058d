// Right calls through the generated typed connections compile (npm run check:gen).
// bad/ holds wrong ones, which must not (gen.test.js).
import { connect } from 'hubbub-client';
import { HubConnectionBuilder, Subject } from '@microsoft/signalr';
import type { ChatConnection, Message, Welcome } from '../../../internal/demo/types/chat.js';
import type { ConformanceConnection, Whoami } from '../../../internal/demo/types/conformance.js';
import type { ConformanceSignalRConnection } from '../../../internal/demo/types/conformance.signalr.js';
import type { NewsConnection, Article } from '../../../internal/demo/types/news.js';
import type { ChatSignalRConnection } from '../../../internal/demo/types/chat.signalr.js';

export async function bundled(): Promise<void> {
  const chat: ChatConnection = connect('/hubs/chat');
  const welcome: Welcome | null = await chat.invoke('Authenticate', 'alice', 'alice123');
  const rooms: string[] = welcome?.joined ?? [];
  await chat.invoke('Join', rooms[0] ?? 'general');
  await chat.send('Send', 'general', 'hello');
  await chat.invoke('SendImage', 'general', 'image/png', 'iVBORw0KGgo=');
  chat.on('message', (m: Message) => console.log(m.from, m.text, m.room ?? m.to));
  chat.on('rooms', (rs) => rs.map((r) => r.members.length));
  chat.off('message');
  chat.onreconnected(() => undefined); // the rest of HubConnection is still there
  await chat.stop();

  const news: NewsConnection = connect('/hubs/news');
  const backlog: Article[] = await news.invoke('Subscribe', 'acme', 3);
  news.on('article', (a) => console.log(a.company, a.id + 1, a.title));
  console.log(backlog.length, (await news.invoke('Companies')).map((c) => c.name));

  const conf: ConformanceConnection = connect('/hubs/conformance');
  const who: Whoami = await conf.invoke('Whoami');
  const sum: number = await conf.invoke('Sum', (async function* () { yield 1; yield 2.5; })());
  for await (const n of conf.stream('Counter', 3, 10)) console.log(n + 1, sum, who.userId ?? 'anonymous');
  conf.on('anything', (...args: unknown[]) => args); // no client methods declared: on stays untyped
}

export async function signalr(): Promise<void> {
  const chat = new HubConnectionBuilder().withUrl('/hubs/chat').build() as ChatSignalRConnection;
  await chat.start();
  const welcome = await chat.invoke('Authenticate', 'bob', 'bob123');
  console.log(welcome?.nick);
  chat.on('direct', (m) => console.log(m.to, m.text));

  const conf: ConformanceSignalRConnection = new HubConnectionBuilder().withUrl('/hubs/conformance').build();
  const numbers = new Subject<number>();
  const total = conf.invoke('Sum', numbers);
  numbers.next(1);
  numbers.complete();
  console.log(await total);
  conf.stream('Counter', 2, 0).subscribe({ next: (n) => console.log(n * 2), error: () => {}, complete: () => {} });
}
