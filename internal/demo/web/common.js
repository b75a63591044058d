// Shared by the demo pages: the transport choice (?transport=…), the transport
// pill in the top bar, and a tiny DOM builder that only ever sets text.
'use strict';
(function () {
  const NAMES = {
    websockets: 'WebSockets', websocket: 'WebSockets', ws: 'WebSockets',
    sse: 'ServerSentEvents', serversentevents: 'ServerSentEvents',
    longpolling: 'LongPolling', polling: 'LongPolling',
  };
  const LABELS = { WebSockets: 'WebSockets', ServerSentEvents: 'Server-Sent Events', LongPolling: 'Long polling' };
  const PARAMS = { WebSockets: 'websockets', ServerSentEvents: 'sse', LongPolling: 'longpolling' };
  const query = new URLSearchParams(location.search).get('transport') || '';
  const forced = NAMES[query.toLowerCase()] || null;

  /**
   * el('li', { class: 'msg', dataset: { id: 1 } }, 'text', child…): children that
   * are strings become text nodes, so user content can never become markup.
   */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /** Keeps ?transport= on the page links of the top bar. */
  function keepTransportInLinks() {
    if (!query) return;
    for (const a of document.querySelectorAll('a[data-keep-transport]')) {
      const u = new URL(a.getAttribute('href'), location.href);
      u.searchParams.set('transport', query);
      a.setAttribute('href', u.pathname + u.search);
    }
  }

  /** The transport selector: reloads the page with ?transport=… */
  function transportSelector() {
    const select = document.getElementById('transport-select');
    if (!select) return;
    select.value = forced ? PARAMS[forced] : '';
    select.addEventListener('change', () => {
      const u = new URL(location.href);
      if (select.value) u.searchParams.set('transport', select.value);
      else u.searchParams.delete('transport');
      location.href = u.pathname + u.search;
    });
  }

  /** Shows a connection's state and transport in the #transport pill, as it changes. */
  function watch(hub) {
    const pill = document.getElementById('transport');
    const show = (state) => {
      pill.dataset.state = state;
      pill.dataset.transport = state === 'connected' ? hub.transport : '';
      pill.textContent = state === 'connected' ? LABELS[hub.transport] || hub.transport
        : state === 'reconnecting' ? 'reconnecting…'
        : state === 'disconnected' ? 'offline' : 'connecting…';
      pill.title = state === 'connected' ? 'Connected over ' + hub.transport : state;
    };
    show(hub.state);
    hub.onconnected(() => show('connected'));
    hub.onreconnecting(() => show('reconnecting'));
    hub.onreconnected(() => show('connected'));
    hub.onclose(() => show('disconnected'));
  }

  /** The client options: the forced transport, if any. */
  function options(extra) {
    return Object.assign(forced ? { transports: [forced] } : {}, extra || {});
  }

  /** An invocation error's text without the client's "hubbub: " prefix. */
  function message(e) {
    return String((e && e.message) || e).replace(/^hubbub: /, '');
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  window.Demo = { forced, el, watch, options, message, clock, LABELS };
  document.addEventListener('DOMContentLoaded', () => { keepTransportInLinks(); transportSelector(); });
})();
