// The cluster page. User content goes in with textContent only.
const $ = (id) => document.getElementById(id);
// Remembering the transport that worked is for the same origin; here every
// reload should show the fallback-free path again, so keep nothing.
const hub = Hubbub.connect('/hubs/cluster', { storage: null });

hub.on('welcome', (node) => { $('node').textContent = node; });
hub.on('message', (from, text) => {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'node';
  who.textContent = `${from} → ${$('node').textContent}: `;
  const body = document.createElement('span');
  body.textContent = text;
  li.append(who, body);
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
});
hub.onconnected(() => { $('status').textContent = `connected over ${hub.transport}`; });
hub.onreconnecting(() => { $('status').textContent = 'reconnecting…'; });
hub.onreconnected(() => { $('status').textContent = `connected over ${hub.transport}`; });
hub.onclose((err) => { $('status').textContent = `disconnected${err ? ': ' + err.message : ''}`; });

$('say').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await hub.invoke('Say', $('text').value);
    $('text').value = '';
  } catch (err) {
    $('status').textContent = `not sent: ${err.message}`;
  }
});
