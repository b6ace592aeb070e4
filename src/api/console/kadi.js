// Kadi console: shared helpers for every page (plain ES module, no build step).
// Pages call `start(page)` which checks the session, draws the navigation for the user's role and returns `me`.

// No form in the console ever submits natively (a keyboard-wedge Enter must never reload a page).
document.addEventListener('submit', (ev) => ev.preventDefault(), true);

/** Marks the page ready (its handlers are attached); tests and scripts can wait for body[data-ready]. */
export function ready() {
  document.body.dataset.ready = 'true';
}

/** An API error with its stable code. */
export class ApiFailure extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Calls the JSON API. Redirects to the login page when the session is gone. */
export async function api(method, url, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : { code: `HTTP_${res.status}`, message: res.statusText };
    if (res.status === 401 && !location.pathname.endsWith('/login.html')) {
      location.assign(`/console/login.html?next=${encodeURIComponent(location.pathname + location.search)}`);
      return new Promise(() => {}); // the page is going away
    }
    throw new ApiFailure(res.status, e.code, e.message, e.details);
  }
  return data;
}

/** Creates an element: el('td', { class: 'n' }, 'text', child, ...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

export const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-GB') : String(n ?? '–'));

export function when(iso) {
  if (!iso) return '–';
  return iso.slice(0, 19).replace('T', ' ');
}

/** Writes a status message into an aria-live region: kind ok | error | info. */
export function announce(region, message, kind = 'info') {
  region.className = `notice ${kind}`;
  region.textContent = message;
}

export function errorText(e) {
  return e instanceof ApiFailure ? `${e.code}: ${e.message}` : `Error: ${e.message}`;
}

/** A simple table from headers and rows (cells: text or nodes). */
export function table(headers, rows, opts = {}) {
  return el(
    'table',
    { class: opts.class ?? 'data' },
    opts.caption ? el('caption', {}, opts.caption) : null,
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.length ? rows.map((r) => el('tr', {}, r.map((c) => el('td', typeof c === 'number' ? { class: 'n' } : {}, typeof c === 'number' ? fmt(c) : c)))) : el('tr', {}, el('td', { colspan: headers.length, class: 'empty' }, opts.empty ?? 'Nothing yet'))),
  );
}

const PAGES = [
  { href: '/console/', label: 'Dashboard', perm: 'status.read', id: 'dashboard' },
  { href: '/console/card.html', label: 'Card lookup', perm: 'card.read', id: 'card' },
  { href: '/console/qc.html', label: 'QC station', perm: 'qc.submit', id: 'qc' },
  { href: '/console/dispatch.html', label: 'Dispatch', perm: 'dispatch.scan', id: 'dispatch' },
  { href: '/console/uncollected.html', label: 'Uncollected', perm: 'dispatch.read', id: 'uncollected' },
  { href: '/console/reconciliation.html', label: 'Reconciliation', perm: 'reconciliation.read', id: 'reconciliation' },
  { href: '/console/keys.html', label: 'Keys', perm: 'keys.read', id: 'keys' },
  { href: '/console/users.html', label: 'Users', perm: 'users.manage', id: 'users' },
];

/** The first page a role lands on after login. */
export function homeFor(me) {
  const byRole = { qc: 'qc', logistics: 'dispatch', custodian: 'keys', admin: 'users', operator: 'dashboard' };
  const page = PAGES.find((p) => p.id === byRole[me.user.role]);
  return page ? page.href : '/console/';
}

export function can(me, perm) {
  return me.permissions.includes(perm);
}

/** Checks the session and draws the header. Returns `me`, or never resolves (redirected to login). */
export async function start(pageId) {
  const me = await api('GET', '/api/auth/me');
  const header = document.getElementById('top');
  const nav = el(
    'nav',
    { 'aria-label': 'Main' },
    el('ul', {}, PAGES.filter((p) => can(me, p.perm)).map((p) => el('li', {}, el('a', { href: p.href, 'aria-current': p.id === pageId ? 'page' : undefined }, p.label)))),
  );
  const who = el(
    'div',
    { class: 'who' },
    el('span', { id: 'kadi-user' }, `${me.user.name} · `, el('strong', { id: 'kadi-role' }, me.user.role)),
    el(
      'button',
      {
        type: 'button',
        class: 'link',
        id: 'kadi-logout',
        onclick: async () => {
          try {
            await api('POST', '/api/auth/logout');
          } finally {
            location.assign('/console/login.html');
          }
        },
      },
      'Log out',
    ),
  );
  clear(header, el('a', { class: 'brand', href: '/console/' }, 'Kadi'), nav, who);
  return me;
}

/** Shows the refusal for a page the role may not use; returns true when refused. */
export function refuseUnless(me, perm, what) {
  if (can(me, perm)) return false;
  const main = document.querySelector('main');
  clear(
    main,
    el('h1', {}, document.title.replace(/ · Kadi$/, '')),
    el('p', { class: 'notice error', role: 'alert', id: 'refused' }, `Your role (${me.user.role}) may not ${what}. Ask a user with the right role.`),
  );
  return true;
}

/** Reads ?name= from the page URL. */
export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

/** Batch progress: cards that left production (QC passed or further), spoiled, and still in production. */
export function batchProgress(b) {
  const after = ['QC_PASSED', 'PACKED', 'DISPATCHED', 'RECEIVED', 'ISSUED', 'RETURNED', 'DESTROYED'];
  const c = b.cards || {};
  const done = after.reduce((a, s) => a + (c[s] || 0), 0);
  const spoiled = c.SPOILED || 0;
  const total = Object.values(c).reduce((a, v) => a + v, 0);
  return { done, spoiled, inProduction: total - done - spoiled, total };
}

export function progressCell(b) {
  const p = batchProgress(b);
  const pct = p.total ? Math.round(((p.done + p.spoiled) / p.total) * 100) : 0;
  return el(
    'span',
    { class: 'progress' },
    el('progress', { max: p.total || 1, value: p.done + p.spoiled, 'aria-label': `batch ${b.id} progress` }),
    ` ${pct}% · ${fmt(p.done)} done, ${fmt(p.spoiled)} spoiled, ${fmt(p.inProduction)} in production`,
  );
}
