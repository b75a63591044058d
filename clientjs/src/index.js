// Hubbub's client for browsers and Node 20+: the SignalR JSON hub protocol over
// WebSockets, Server-Sent Events or long polling. See README.md.

export { connect, HubConnection } from './connection.js';
export { reconnectDelay } from './backoff.js';
export { LogLevel } from './log.js';
