import { announce, api, can, clear, el, errorText, fmt, progressCell, ready, start, table, when } from './kadi.js';

const me = await start('dashboard');
const live = document.getElementById('live');

function render(s) {
  clear(
    document.getElementById('cards'),
    Object.entries(s.status.cards).map(([state, n]) => el('li', { 'data-state': state }, el('span', { class: `state ${state}` }, state), el('strong', {}, fmt(n)))),
  );
  clear(
    document.getElementById('batches'),
    table(
      ['Batch', 'State', 'Size', 'Centre', 'Progress', 'Created'],
      s.batches.map((b) => [el('a', { href: `/console/batch.html?id=${b.id}` }, `#${b.id}`), el('span', { class: 'state' }, b.state), b.size, b.centreCode ?? 'all', progressCell(b), `${when(b.createdAt)} by ${b.createdBy}`]),
      { empty: 'No batch yet' },
    ),
  );
  const tp = Object.entries(s.throughput.perHour).sort((a, b) => b[1] - a[1]);
  clear(
    document.getElementById('throughput'),
    table(['State reached', 'Cards per hour'], tp.map(([k, v]) => [el('span', { class: `state ${k}` }, k), v]), { caption: `Last ${s.throughput.windowMinutes} minutes${s.throughput.truncated ? ' (lower bound)' : ''}`, empty: 'No card moved recently' }),
  );
  const rows = [];
  for (const [kind, m] of [['Spoiled', s.failures.spoiled], ['QC', s.failures.qc], ['Intake', s.failures.intake]]) {
    for (const [reason, n] of Object.entries(m).sort((a, b) => b[1] - a[1])) rows.push([kind, reason, n]);
  }
  clear(document.getElementById('failures'), table(['Where', 'Reason', 'Count'], rows, { empty: 'No failures' }));
  clear(
    document.getElementById('encoders'),
    table(['Encoder', 'State', 'Encoded', 'Spoiled', 'Last seen'], s.encoders.map((e) => [e.name, e.state, e.cardsEncoded, e.cardsSpoiled, when(e.lastSeenAt)]), { empty: 'No encoder registered' }),
  );
  clear(
    document.getElementById('orders'),
    table(['', 'Count'], [...Object.entries(s.status.orders).map(([k, v]) => [`Orders ${k}`, v]), ...Object.entries(s.status.intake).map(([k, v]) => [`Intake ${k}`, v])]),
  );
  live.textContent = `Live · updated ${when(s.at)} UTC · ${fmt(s.auditEntries)} audit entries`;
}

function connect() {
  const es = new EventSource('/api/events');
  es.addEventListener('dashboard', (ev) => render(JSON.parse(ev.data)));
  es.addEventListener('logout', () => location.assign('/console/login.html'));
  es.onerror = () => {
    live.textContent = 'Connection lost; retrying…';
  };
}

render(await api('GET', '/api/dashboard'));
connect();

// Operators create batches and take records in.
if (can(me, 'batch.create')) {
  const form = document.getElementById('new-batch');
  const msg = document.getElementById('batch-message');
  form.hidden = false;
  const { centres } = await api('GET', '/api/centres');
  document.getElementById('batch-centre').append(...centres.map((c) => el('option', { value: c.code }, `${c.code} ${c.name}`)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const size = Number(document.getElementById('batch-size').value);
    const centreCode = document.getElementById('batch-centre').value || undefined;
    try {
      const b = await api('POST', '/api/batches', { size, ...(centreCode ? { centreCode } : {}) });
      announce(msg, `Batch ${b.id} created with ${fmt(b.size)} cards.`, 'ok');
      location.assign(`/console/batch.html?id=${b.id}`);
    } catch (e) {
      announce(msg, errorText(e), 'error');
    }
  });
  document.getElementById('run-intake').addEventListener('click', async () => {
    announce(msg, 'Taking registry records in…', 'info');
    try {
      const r = await api('POST', '/api/intake', {});
      announce(msg, `Intake: ${fmt(r.ordered)} ordered, ${fmt(r.rejected)} rejected, ${fmt(r.duplicates)} duplicates.`, 'ok');
    } catch (e) {
      announce(msg, errorText(e), 'error');
    }
  });
}

if (can(me, 'audit.verify')) {
  const sec = document.getElementById('audit');
  const out = document.getElementById('audit-result');
  sec.hidden = false;
  document.getElementById('verify-audit').addEventListener('click', async () => {
    announce(out, 'Verifying…', 'info');
    try {
      const r = await api('POST', '/api/audit/verify');
      if (r.ok) announce(out, `Audit log OK: ${fmt(r.entries)} entries, chain intact.`, 'ok');
      else announce(out, `Audit log BROKEN at entry ${r.firstBad.seq}: ${r.firstBad.problem}. Treat the database as tampered with.`, 'error');
    } catch (e) {
      announce(out, errorText(e), 'error');
    }
  });
}
ready();
