// The globals of the demo pages (internal/demo/web), for checking them with tsc
// against the generated hub types (tsconfig.pages.json): Demo is common.js's,
// HubbubMsgPack the MessagePack script's; chat, news and landing are what the
// pages leave for the browser tests.
declare const Demo: {
  forced: Hubbub.TransportName | null;
  el(tag: string, props?: Record<string, unknown> | null, ...children: unknown[]): HTMLElement;
  watch(hub: Pick<Hubbub.HubConnection, 'state' | 'transport' | 'onconnected' | 'onreconnecting' | 'onreconnected' | 'onclose'>): void;
  options(extra?: Hubbub.HubConnectionOptions): Hubbub.HubConnectionOptions;
  message(e: unknown): string;
  clock(ms: number): string;
  LABELS: Record<Hubbub.TransportName, string>;
};

interface Window {
  HubbubMsgPack?: { protocol(): Hubbub.HubProtocol };
  chat?: unknown;
  news?: unknown;
  landing?: unknown;
}
