// Wrong calls through the generated typed connections: tsc must refuse each line
// marked with the error it must give (gen.test.js), and nothing else.
import { connect } from 'hubbub-client';
import { HubConnectionBuilder } from '@microsoft/signalr';
import type { ChatConnection } from '../../../../internal/demo/types/chat.js';
import type { ChatSignalRConnection } from '../../../../internal/demo/types/chat.signalr.js';
import type { ConformanceConnection } from '../../../../internal/demo/types/conformance.js';

export async function wrong(): Promise<void> {
  const chat: ChatConnection = connect('/hubs/chat');
  await chat.invoke('Join', 42); // @expect TS2345 (an argument of the wrong type)
  await chat.invoke('Joinn', 'general'); // @expect TS2345 (no such method)
  await chat.send('Send', 'general'); // @expect TS2554 (an argument missing)
  const members: number[] = await chat.invoke('Who', 'general'); // @expect TS2322 (the result is string[])
  chat.on('message', (m: number) => m); // @expect TS2345 (the handler takes a Message)
  chat.on('mesage', () => {}); // @expect TS2345 (no such client method)
  const welcome = await chat.invoke('Authenticate', 'alice', 'alice123');
  console.log(welcome?.nickname, members); // @expect TS2339 (Welcome has nick, not nickname)

  const conf: ConformanceConnection = connect('/hubs/conformance');
  conf.stream('Add', 1, 2); // @expect TS2345 (Add does not stream)
  await conf.invoke('Counter', 1, 2); // @expect TS2345 (Counter streams: stream it)
  await conf.invoke('Sum', [1, 2]); // @expect TS2741 (Sum reads a stream, not an array)

  const sr = new HubConnectionBuilder().withUrl('/hubs/chat').build() as ChatSignalRConnection;
  await sr.invoke('Direct', 'bob', 1); // @expect TS2345 (text is a string)
  sr.on('users', (users: number[]) => users); // @expect TS2345 (users are strings)
}
