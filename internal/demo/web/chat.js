// The chat page. Connects when the user signs in, authenticates with
// Authenticate(nick, password), then follows the hub's events:
// message, image, direct, notice, rooms, users. All user content goes in with
// textContent (Demo.el), never as HTML; images as <img> of a blob: URL.
//
// Images (picked or pasted) go to the room with SendImage(room, type, bytes). With
// the MessagePack module (hubbub-msgpack.js) loaded, the page speaks MessagePack and
// the bytes travel as binary; without it, or over SSE (text only), or with
// ?protocol=json, it speaks JSON and the bytes travel as base64.
//
// The hub's types come from internal/demo/types/chat.d.ts, generated from the Go
// hub (go run ./cmd/hubbub gen ts); clientjs's npm test checks this file against
// them with tsc, so a call that does not fit the hub fails there.
'use strict';
(function () {
  /** @typedef {import('../types/chat.js').ChatConnection} ChatConnection */
  /** @typedef {import('../types/chat.js').Room} Room */
  /** @typedef {import('../types/chat.js').Welcome} Welcome */
  /** @type {(id: string) => any} */
  const $ = (id) => document.getElementById(id);
  const { el } = Demo;

  const S = {
    /** @type {ChatConnection | null} */
    hub: null,
    me: null,
    creds: null,
    maxLen: 500,
    maxImage: 256 * 1024, // Welcome.maxImageSize
    binary: false, // MessagePack: bytes are Uint8Array both ways
    /** @type {Room[]} */
    rooms: [], // as the server last sent them
    joined: new Set(), // rooms this tab is in
    /** @type {string[]} */
    online: [],
    channels: new Map(), // '#room' or '@nick' → { items: [], unread: 0 }
    current: '#general',
  };

  function channel(key) {
    let c = S.channels.get(key);
    if (!c) S.channels.set(key, (c = { items: [], unread: 0 }));
    return c;
  }

  function push(key, item) {
    const c = channel(key);
    c.items.push(item);
    if (c.items.length > 500) {
      const gone = c.items.shift();
      if (gone.url) URL.revokeObjectURL(gone.url);
    }
    if (key === S.current) {
      const list = $('messages');
      list.querySelector('.empty')?.remove();
      list.append(render(item));
      list.scrollTop = list.scrollHeight;
    } else {
      c.unread++;
      renderSidebar();
    }
  }

  function render(item) {
    if (item.kind === 'notice') return el('li', { class: 'notice' }, item.text);
    const mine = item.from === S.me;
    const body = item.kind === 'image'
      ? el('img', { class: 'image', src: item.url, alt: `image from ${item.from}`, dataset: { size: item.bytes.length } })
      : el('span', { class: 'text' }, item.text);
    return el('li', { class: mine ? 'msg mine' : 'msg', dataset: { id: item.id, from: item.from } },
      el('span', { class: 'meta' }, el('b', {}, mine ? 'you' : item.from), Demo.clock(item.at)), body);
  }

  function roomInfo(name) {
    return S.rooms.find((r) => r.name === name);
  }

  function renderSidebar() {
    const rooms = $('rooms');
    rooms.replaceChildren(...S.rooms.map((r) => {
      const key = '#' + r.name;
      const unread = S.channels.get(key)?.unread || 0;
      return el('li', {
        dataset: { room: r.name }, class: S.joined.has(r.name) ? '' : 'out',
        'aria-current': key === S.current ? 'true' : false,
        title: S.joined.has(r.name) ? r.members.join(', ') : 'Join #' + r.name,
        onclick: () => (S.joined.has(r.name) ? select(key) : join(r.name)),
      }, el('span', { class: 'name' }, '#' + r.name),
      unread ? el('span', { class: 'unread' }, unread) : el('span', { class: 'count' }, r.members.length));
    }));
    const others = new Set(S.online.filter((n) => n !== S.me));
    for (const key of S.channels.keys()) if (key[0] === '@') others.add(key.slice(1));
    const users = $('users');
    if (!others.size) {
      users.replaceChildren(el('li', { class: 'out' }, el('span', { class: 'name' }, 'nobody else is online')));
      return;
    }
    users.replaceChildren(...[...others].sort().map((nick) => {
      const key = '@' + nick;
      const unread = S.channels.get(key)?.unread || 0;
      const online = S.online.includes(nick);
      return el('li', {
        dataset: { user: nick }, class: online ? '' : 'out',
        'aria-current': key === S.current ? 'true' : false,
        onclick: () => select(key),
      }, online ? el('span', { class: 'dot' }) : null, el('span', { class: 'name' }, nick),
      unread ? el('span', { class: 'unread' }, unread) : null);
    }));
  }

  function renderHeader() {
    const key = S.current;
    const isRoom = key[0] === '#';
    $('channel-title').textContent = isRoom ? key : '@ ' + key.slice(1);
    if (isRoom) {
      const members = roomInfo(key.slice(1))?.members || [];
      $('members').textContent = `${members.length} here: ${members.join(', ')}`;
      $('members').dataset.members = members.join(',');
    } else {
      $('members').textContent = S.online.includes(key.slice(1)) ? 'direct message · online' : 'direct message · offline';
      $('members').dataset.members = '';
    }
    $('leave-button').classList.toggle('hidden', !isRoom || key === '#general');
    $('attach').classList.toggle('hidden', !isRoom);
    $('text').placeholder = isRoom ? `Message ${key}` : `Message ${key.slice(1)} privately`;
    $('text').maxLength = S.maxLen;
  }

  function select(key) {
    S.current = key;
    const c = channel(key);
    c.unread = 0;
    const list = $('messages');
    list.replaceChildren(...c.items.map(render));
    if (!c.items.length) list.append(el('li', { class: 'empty' }, key[0] === '#' ? `No messages in ${key} yet.` : `Say hi to ${key.slice(1)}.`));
    list.scrollTop = list.scrollHeight;
    renderHeader();
    renderSidebar();
    $('text').focus();
  }

  let bannerTimer;
  function banner(text, bad, sticky) {
    const b = $('banner');
    clearTimeout(bannerTimer);
    b.textContent = text;
    b.classList.toggle('bad', !!bad);
    b.classList.toggle('hidden', !text);
    if (text && !sticky) bannerTimer = setTimeout(() => b.classList.add('hidden'), 5000);
  }

  async function join(name) {
    try {
      const room = await S.hub.invoke('Join', name);
      S.joined.add(room.name);
      const i = S.rooms.findIndex((r) => r.name === room.name);
      if (i < 0) S.rooms.push(room); else S.rooms[i] = room;
      select('#' + room.name);
      return true;
    } catch (e) {
      banner(Demo.message(e), true);
      return false;
    }
  }

  async function leave() {
    const room = S.current.slice(1);
    try {
      await S.hub.invoke('Leave', room);
      S.joined.delete(room);
      select('#general');
    } catch (e) {
      banner(Demo.message(e), true);
    }
  }

  /** The bytes of base64 text (JSON carries []byte so). */
  function fromBase64(text) {
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  function toBase64(bytes) {
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  }

  const KiB = (n) => `${Math.ceil(n / 1024).toLocaleString('en')} KiB`;

  /** Sends an image file (picked or pasted) to the current room. */
  async function sendImage(file) {
    const key = S.current;
    if (key[0] !== '#') {
      banner('Images go to rooms only.', true);
      return;
    }
    if (file.size > S.maxImage) {
      banner(`Image too large: ${KiB(file.size)}, at most ${KiB(S.maxImage)}.`, true);
      return;
    }
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      await S.hub.invoke('SendImage', key.slice(1), file.type, S.binary ? bytes : toBase64(bytes));
    } catch (err) {
      banner(Demo.message(err), true);
    }
  }

  /** The hub's options: MessagePack when its module is here and the transport carries binary. */
  function hubOptions() {
    const msgpack = window.HubbubMsgPack;
    const asked = new URLSearchParams(location.search).get('protocol');
    const binary = !!msgpack && asked !== 'json' && Demo.forced !== 'ServerSentEvents';
    return { binary, options: Demo.options(binary ? { protocol: msgpack.protocol() } : {}) };
  }

  /** @param {ChatConnection} hub */
  function wire(hub) {
    Demo.watch(hub);
    hub.on('message', (m) => push('#' + m.room, { kind: 'msg', ...m }));
    hub.on('image', (m) => {
      const bytes = typeof m.data === 'string' ? fromBase64(m.data) : m.data;
      // MessagePack's decoder gives Uint8Arrays over plain ArrayBuffers.
      const url = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)], { type: m.contentType }));
      push('#' + m.room, { kind: 'image', id: m.id, room: m.room, from: m.from, at: m.at, contentType: m.contentType, bytes, url });
    });
    hub.on('direct', (m) => push('@' + (m.from === S.me ? m.to : m.from), { kind: 'msg', ...m }));
    hub.on('notice', (n) => push('#' + n.room, { kind: 'notice', ...n }));
    hub.on('rooms', (rooms) => {
      S.rooms = rooms;
      renderSidebar();
      if (S.me) renderHeader();
    });
    hub.on('users', (users) => {
      S.online = users;
      renderSidebar();
      if (S.me) renderHeader();
    });
    hub.onreconnecting(() => banner('Connection lost; reconnecting…', true, true));
    hub.onreconnected(async () => {
      // A new connection is anonymous again: sign in again and rejoin this tab's rooms.
      try {
        const w = await hub.invoke('Authenticate', S.creds.nick, S.creds.password);
        S.rooms = w.rooms;
        S.online = w.online;
        for (const room of S.joined) if (room !== 'general') await hub.invoke('Join', room);
        banner('Reconnected over ' + hub.transport + '.');
      } catch (e) {
        banner('Could not sign in again: ' + Demo.message(e), true, true);
      }
      renderSidebar();
    });
    hub.onclose((e) => {
      if (S.hub === hub) banner('Disconnected' + (e ? ': ' + Demo.message(e) : '') + '. Reload to sign in again.', true, true);
    });
  }

  /** @param {Welcome} w */
  function enter(w) {
    S.me = w.nick;
    S.maxLen = w.maxMessageLength;
    S.maxImage = w.maxImageSize || S.maxImage;
    S.rooms = w.rooms;
    S.online = w.online;
    S.joined = new Set(w.joined);
    $('me').textContent = w.nick;
    $('login').classList.add('hidden');
    $('app').classList.remove('hidden');
    document.title = `${w.nick} · Chat · Hubbub`;
    select('#general');
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const nick = $('nick').value.trim();
    const password = $('password').value;
    const button = $('login-button');
    $('login-error').textContent = '';
    button.disabled = true;
    const { binary, options } = hubOptions();
    /** @type {ChatConnection} */
    const hub = Hubbub.connect('/hubs/chat', options);
    wire(hub);
    try {
      const welcome = await hub.invoke('Authenticate', nick, password);
      S.hub = hub;
      S.binary = binary;
      $('transport').dataset.protocol = binary ? 'messagepack' : 'json';
      S.creds = { nick, password };
      enter(welcome);
    } catch (err) {
      // As socketio-auth does: a refused login hangs up; the next try connects again.
      $('login-error').textContent = Demo.message(err);
      hub.stop();
      $('password').select();
    } finally {
      button.disabled = false;
    }
  });

  $('composer').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('text');
    const text = input.value.trim();
    if (!text) return;
    const key = S.current;
    try {
      if (key[0] === '#') await S.hub.invoke('Send', key.slice(1), text);
      else await S.hub.invoke('Direct', key.slice(1), text);
      if (input.value.trim() === text) input.value = '';
    } catch (err) {
      banner(Demo.message(err), true);
    }
  });

  $('newroom-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('new-room');
    if (input.value.trim() && (await join(input.value))) input.value = '';
  });
  $('leave-button').addEventListener('click', leave);
  $('image-input').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) sendImage(file);
  });
  $('text').addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith('image/'));
    if (!file) return;
    e.preventDefault();
    sendImage(file);
  });

  // For the browser tests and the curious: the state, and every text received.
  window.chat = {
    state: S,
    select,
    texts: (key) => [...S.channels.entries()]
      .filter(([k]) => !key || k === key)
      .flatMap(([, c]) => c.items.filter((i) => i.kind === 'msg').map((i) => i.text)),
    /** The images received in a channel: sender, type and bytes (base64). */
    images: (key) => (S.channels.get(key)?.items || []).filter((i) => i.kind === 'image')
      .map((i) => ({ from: i.from, contentType: i.contentType, base64: toBase64(i.bytes) })),
    protocol: () => (S.binary ? 'messagepack' : 'json'),
    notices: (key) => (S.channels.get(key)?.items || []).filter((i) => i.kind === 'notice').map((i) => i.text),
  };
})();
