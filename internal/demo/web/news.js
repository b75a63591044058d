// The news page. For each company picked: GET /api/news/{company} (the browser
// revalidates with its ETag), then Subscribe(company, latestId) on the hub, which
// returns what was published in between; live "article" events follow. Articles
// are merged by ID, so none is shown twice, and the IDs of a company are
// contiguous, so none is missed. After a reconnect, Subscribe(company, highest ID
// seen) catches up.
//
// The hub's types come from internal/demo/types/news.d.ts, generated from the Go
// hub (go run ./cmd/hubbub gen ts); clientjs's npm test checks this file against
// them with tsc.
'use strict';
(function () {
  /** @typedef {import('../types/news.js').Article} Article */
  /** @typedef {import('../types/news.js').Company} Company */
  /** @type {(id: string) => any} */
  const $ = (id) => document.getElementById(id);
  const { el } = Demo;
  const LIMIT = 20;
  const MAX_SHOWN = 300;
  const STORE = 'hubbub-news-companies';

  /** @type {import('../types/news.js').NewsConnection} */
  const hub = Hubbub.connect('/hubs/news', Demo.options());
  Demo.watch(hub);

  /** @type {Company[]} */
  let companies = [];
  const subs = new Map(); // company → { ids: Set, maxId }
  const counts = { rest: 0, backlog: 0, live: 0 };

  function save() {
    try { localStorage.setItem(STORE, JSON.stringify([...subs.keys()])); } catch { /* private mode */ }
  }

  function saved() {
    try {
      const v = JSON.parse(localStorage.getItem(STORE) || 'null');
      if (Array.isArray(v)) return v;
    } catch { /* ignore */ }
    return ['acme', 'globex'];
  }

  function nameOf(id) {
    return companies.find((c) => c.id === id)?.name || id;
  }

  function renderStats() {
    $('following').textContent = subs.size ? [...subs.keys()].map(nameOf).join(', ') : 'none';
    $('count-rest').textContent = counts.rest;
    $('count-backlog').textContent = counts.backlog;
    $('count-live').textContent = counts.live;
    const feed = $('feed');
    const empty = feed.querySelector('.empty');
    if (!feed.querySelector('.article') && !empty) {
      feed.append(el('li', { class: 'empty' }, subs.size ? 'Loading…' : 'Pick a company to follow its news.'));
    } else if (empty && feed.querySelector('.article')) empty.remove();
    else if (empty) empty.textContent = subs.size ? 'Loading…' : 'Pick a company to follow its news.';
  }

  /** Adds an article unless it is already there; the feed stays sorted newest first. */
  /**
   * @param {Article} a
   * @param {'rest' | 'backlog' | 'live'} source
   */
  function add(a, source) {
    const s = subs.get(a.company);
    if (!s || s.ids.has(a.id)) return;
    s.ids.add(a.id);
    s.maxId = Math.max(s.maxId, a.id);
    counts[source]++;
    const node = el('li', {
      class: source === 'live' ? 'article live' : 'article',
      dataset: { company: a.company, id: a.id, at: a.publishedAt, source },
    },
    el('span', { class: 'tag' }, nameOf(a.company)),
    el('span', { class: 'title' }, a.title),
    el('span', { class: 'when', title: '#' + a.id }, Demo.clock(a.publishedAt)),
    el('span', { class: 'summary' }, a.summary));
    const feed = $('feed');
    let before = null;
    for (const other of feed.children) {
      if (!other.dataset.at) continue;
      const at = Number(other.dataset.at);
      if (at < a.publishedAt || (at === a.publishedAt && Number(other.dataset.id) < a.id)) { before = other; break; }
    }
    feed.insertBefore(node, before);
    while (feed.children.length > MAX_SHOWN) {
      const last = feed.lastElementChild;
      subs.get(last.dataset.company)?.ids.delete(Number(last.dataset.id));
      last.remove();
    }
  }

  async function follow(company) {
    if (subs.has(company)) return;
    const s = { ids: new Set(), maxId: 0 };
    subs.set(company, s);
    renderCompanies();
    renderStats();
    save();
    try {
      const res = await fetch(`/api/news/${encodeURIComponent(company)}?limit=${LIMIT}`);
      if (!res.ok) throw new Error(`GET /api/news/${company}: ${res.status}`);
      const body = await res.json();
      if (subs.get(company) !== s) return; // unfollowed meanwhile
      for (const a of body.articles) add(a, 'rest');
      s.maxId = Math.max(s.maxId, body.latestId);
      // What was published between the GET and joining the group comes back here;
      // what comes after arrives as "article" events (possibly before this returns).
      const backlog = await hub.invoke('Subscribe', company, body.latestId);
      if (subs.get(company) !== s) return;
      for (const a of backlog) add(a, 'backlog');
    } catch (e) {
      console.error(e);
      if (subs.get(company) === s) subs.delete(company);
      renderCompanies();
    }
    renderStats();
  }

  async function unfollow(company) {
    if (!subs.delete(company)) return;
    save();
    for (const node of [...$('feed').querySelectorAll('.article')]) {
      if (node.dataset.company === company) node.remove();
    }
    renderCompanies();
    renderStats();
    try { await hub.invoke('Unsubscribe', company); } catch (e) { console.error(e); }
  }

  function renderCompanies() {
    $('companies').replaceChildren(...companies.map((c) => el('button', {
      type: 'button', dataset: { company: c.id }, 'aria-pressed': String(subs.has(c.id)),
      onclick: () => (subs.has(c.id) ? unfollow(c.id) : follow(c.id)),
    }, c.name)));
  }

  hub.on('article', (a) => add(a, 'live'));
  hub.on('article', () => renderStats());
  hub.onreconnected(async () => {
    // The new connection is in no group: subscribe again from what we have.
    for (const [company, s] of subs) {
      try {
        for (const a of await hub.invoke('Subscribe', company, s.maxId)) add(a, 'backlog');
      } catch (e) { console.error(e); }
    }
    renderStats();
  });

  (async () => {
    const res = await fetch('/api/news');
    companies = await res.json();
    renderCompanies();
    renderStats();
    const known = new Set(companies.map((c) => c.id));
    await Promise.all(saved().filter((id) => known.has(id)).map(follow));
  })();

  // For the browser tests: the IDs shown per company, and the follow controls.
  window.news = {
    hub, follow, unfollow, counts,
    ids: (company) => [...$('feed').querySelectorAll('.article')]
      .filter((n) => n.dataset.company === company).map((n) => Number(n.dataset.id)),
    following: () => [...subs.keys()],
  };
})();
