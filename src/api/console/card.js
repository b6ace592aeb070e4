import { announce, api, clear, el, errorText, param, ready, refuseUnless, start, table, when } from './kadi.js';

const me = await start('card');
const input = document.getElementById('doc');
const msg = document.getElementById('message');

async function show(doc) {
  document.getElementById('result').hidden = true;
  try {
    const [c, h] = await Promise.all([api('GET', `/api/cards/${encodeURIComponent(doc)}`), api('GET', `/api/cards/${encodeURIComponent(doc)}/history`)]);
    const rows = [
      ['Document number', c.documentNumber],
      ['State', el('span', { class: `state ${c.state}` }, c.state)],
      ['Collection centre', c.centre],
      ['Batch', c.batchId === null ? '–' : el('a', { href: `/console/batch.html?id=${c.batchId}` }, `#${c.batchId}`)],
      ['Box', c.box ?? '–'],
      ['Order', c.orderStatus],
      ['Spoil reason', c.spoilReason ?? '–'],
      ['Last change', when(c.updatedAt)],
    ];
    if (c.holder) rows.push(['Holder', [c.holder.givenNames, c.holder.surname].filter(Boolean).join(' ')]);
    clear(document.getElementById('summary'), rows.map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v))));
    clear(document.getElementById('qc'), table(['Check', 'Result', 'Reason', 'By', 'When'], c.qc.map((q) => [q.kind, q.passed ? 'pass' : 'FAIL', q.reasonCode ?? '', q.operator, when(q.at)]), { empty: 'No QC result' }));
    clear(
      document.getElementById('history'),
      table(
        ['#', 'When', 'Who', 'What', 'Details'],
        h.entries.map((e) => [e.seq, when(e.at), e.actor, e.action === 'card.transition' ? `${e.data.from} → ${e.data.to}` : e.action, Object.entries(e.data).filter(([k]) => k !== 'from' && k !== 'to').map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')]),
      ),
    );
    document.getElementById('result').hidden = false;
    announce(msg, '', 'info');
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
}

if (!refuseUnless(me, 'card.read', 'look cards up')) {
  document.getElementById('find').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const doc = input.value.trim().toUpperCase();
    if (doc) {
      history.replaceState(null, '', `?doc=${encodeURIComponent(doc)}`);
      void show(doc);
    }
    input.select();
  });
  const initial = param('doc');
  if (initial) {
    input.value = initial;
    void show(initial.toUpperCase());
  }
}
ready();
