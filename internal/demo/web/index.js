// The landing page: connects to the news hub only to show which transport works here.
'use strict';
(function () {
  /** @type {import('../types/news.js').NewsConnection} */
  const hub = Hubbub.connect('/hubs/news', Demo.options());
  Demo.watch(hub);
  const out = document.getElementById('landing-transport');
  const show = () => { out.textContent = hub.transport ? Demo.LABELS[hub.transport] : 'nothing yet'; out.dataset.transport = hub.transport || ''; };
  hub.onconnected(show);
  hub.onreconnected(show);
  hub.onclose(() => { out.textContent = 'no transport (disconnected)'; });
  hub.start().catch((e) => { out.textContent = 'no transport: ' + Demo.message(e); });
  window.landing = { hub };
})();
