// The chat page: every user content goes in with textContent, never innerHTML.
const $ = (id) => document.getElementById(id);
const hub = Hubbub.connect('/hubs/chat');
const joined = new Set(); // rooms this page is in
let current = '';         // the room messages go to: the last one joined

function show(cls, ...parts) {
  const li = document.createElement('li');
  li.className = cls;
  for (const [text, partClass] of parts) {
    const span = document.createElement('span');
    span.textContent = text;
    if (partClass) span.className = partClass;
    li.append(span);
  }
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}
const failed = (err) => show('error', [String(err.message || err)]);

function showRooms() {
  $('rooms').textContent = joined.size ? [...joined].map((r) => (r === current ? `#${r} (current)` : `#${r}`)).join(', ') : 'no room yet';
}

hub.on('message', (room, nick, text) => show('message', [`#${room} `, 'room'], [`${nick}: `], [text]));
hub.on('notice', (room, text) => show('notice', [`#${room} `, 'room'], [text]));

hub.onconnected(() => { $('status').textContent = `connected over ${hub.transport}`; });
hub.onreconnecting(() => { $('status').textContent = 'reconnecting…'; });
// A new connection (the old one's state lost) has no nickname and no rooms: set them again.
hub.onreconnected(async (_, { resumed }) => {
  $('status').textContent = `connected over ${hub.transport}`;
  if (resumed || !$('nick').value) return;
  await hub.invoke('Nick', $('nick').value).catch(failed);
  for (const room of joined) await hub.invoke('Join', room).catch(failed);
});
hub.onclose((err) => { $('status').textContent = `disconnected${err ? ': ' + err.message : ''}`; });

$('join').addEventListener('submit', async (e) => {
  e.preventDefault();
  const room = $('room').value.trim();
  try {
    await hub.invoke('Nick', $('nick').value.trim());
    await hub.invoke('Join', room);
    joined.add(room);
    current = room;
    showRooms();
    $('text').focus();
  } catch (err) { failed(err); }
});

$('say').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!current) return failed('join a room first');
  try {
    await hub.invoke('Say', current, $('text').value);
    $('text').value = '';
  } catch (err) { failed(err); }
});
