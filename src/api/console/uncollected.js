import { announce, api, can, clear, el, errorText, fmt, ready, refuseUnless, start, table } from './kadi.js';

const me = await start('uncollected');
const msg = document.getElementById('message');

async function load() {
  const r = await api('GET', '/api/dispatch/ageing');
  clear(
    document.getElementById('ageing'),
    table(
      ['Centre', 'Name', 'Uncollected', ...r.buckets.map((b) => `${b} days`), 'Oldest (days)', 'Issued', 'Returned', 'Collection rate'],
      r.centres.map((c) => [c.centre, c.name, c.uncollected, ...r.buckets.map((b) => c.buckets[b] ?? 0), c.oldestDays ?? '–', c.issued, c.returned, c.collectionRate === null ? '–' : `${(c.collectionRate * 100).toFixed(1)} %`]),
      { empty: 'No card has reached a centre yet', caption: `${fmt(r.totals.uncollected)} cards waiting` },
    ),
  );
}

if (!refuseUnless(me, 'dispatch.read', 'see uncollected cards')) {
  try {
    await load();
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
  if (can(me, 'dispatch.return')) {
    document.getElementById('returns').hidden = false;
    const { centres } = await api('GET', '/api/centres');
    document.getElementById('centre').append(...centres.map((c) => el('option', { value: c.code }, `${c.code} ${c.name}`)));
    const out = document.getElementById('returns-message');
    const run = async (dryRun) => {
      const centre = document.getElementById('centre').value || undefined;
      try {
        const r = await api('POST', '/api/dispatch/returns', { olderThanDays: Number(document.getElementById('days').value), dryRun, ...(centre ? { centre } : {}) });
        announce(out, dryRun ? `${fmt(r.returned)} cards would go back.` : `${fmt(r.returned)} cards returned (RETURNED, reason UNCOLLECTED).`, dryRun ? 'info' : 'ok');
        if (!dryRun) await load();
      } catch (e) {
        announce(out, errorText(e), 'error');
      }
    };
    document.getElementById('count').addEventListener('click', () => void run(true));
    document.getElementById('returns-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void run(false);
    });
  }
}
ready();
