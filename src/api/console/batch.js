import { announce, api, batchProgress, can, clear, el, errorText, fmt, param, progressCell, ready, refuseUnless, start, table, when } from './kadi.js';

const me = await start('dashboard');
const id = Number(param('id'));
const msg = document.getElementById('message');

async function load() {
  const b = await api('GET', `/api/batches/${id}`);
  document.getElementById('title').textContent = `Batch #${b.id}`;
  document.title = `Batch #${b.id} · Kadi`;
  const p = batchProgress(b);
  clear(document.getElementById('progress'), progressCell(b));
  document.getElementById('progress').dataset.done = String(p.done);
  clear(
    document.getElementById('summary'),
    ...[
      ['State', el('span', { class: 'state', id: 'batch-state' }, b.state)],
      ['Size', fmt(b.size)],
      ['Centre', b.centreCode ?? 'all centres'],
      ['Created', `${when(b.createdAt)} by ${b.createdBy}`],
      ['Started', when(b.startedAt)],
      ['Completed', when(b.completedAt)],
    ].map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v))),
  );
  clear(
    document.getElementById('states'),
    table(['State', 'Cards'], Object.entries(b.cards).map(([s, n]) => [el('span', { class: `state ${s}` }, s), n]), { empty: 'The batch holds no card' }),
  );
  document.getElementById('live').textContent = `Live · refreshed ${new Date().toISOString().slice(11, 19)} UTC`;
}

if (!refuseUnless(me, 'batch.read', 'view batches')) {
  if (!Number.isInteger(id) || id < 1) announce(msg, 'No batch id in the address (batch.html?id=N).', 'error');
  else {
    try {
      await load();
      if (can(me, 'batch.run')) {
        document.getElementById('run-actions').hidden = false;
        document.getElementById('run').addEventListener('click', async () => {
          try {
            const r = await api('POST', `/api/batches/${id}/run`);
            announce(msg, `Run ${r.run}: ${fmt(r.cards)} cards queued (${fmt(r.jobs)} jobs). Workers do the rest.`, 'ok');
            await load();
          } catch (e) {
            announce(msg, errorText(e), 'error');
          }
        });
      }
      setInterval(() => load().catch((e) => announce(msg, errorText(e), 'error')), 2000);
    } catch (e) {
      announce(msg, errorText(e), 'error');
    }
  }
}
ready();
