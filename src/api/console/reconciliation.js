import { announce, api, clear, el, errorText, ready, refuseUnless, start, table } from './kadi.js';

const me = await start('reconciliation');
const msg = document.getElementById('message');

if (!refuseUnless(me, 'reconciliation.read', 'see the reconciliation')) {
  try {
    const r = await api('GET', '/api/reconciliation');
    const b = r.blanks;
    document.getElementById('equation').textContent = r.ok ? 'Balanced: every blank is accounted for.' : 'NOT balanced: see the differences.';
    document.getElementById('equation').className = `notice ${r.ok ? 'ok' : 'error'}`;
    clear(
      document.getElementById('balance'),
      table(['Received', 'Issued', 'In process', 'In stock', 'Spoiled', 'Returned', 'Destroyed', 'Difference'], [[b.received, b.issued, b.inProcess, b.inStock, b.spoiled, b.returned, b.destroyed, b.difference]], { caption: r.equation }),
    );
    clear(document.getElementById('differences'), table(['Code', 'Count', 'What', 'Sample'], r.differences.map((d) => [d.code, d.count, d.message, d.sample.slice(0, 5).join(', ')]), { empty: 'None' }));
    clear(document.getElementById('lots'), table(['Lot', 'Supplier', 'Received', 'Consumed', 'In stock', 'Spoiled'], r.lots.map((l) => [l.lot, l.supplier, l.received, l.consumed, l.inStock, l.spoiled]), { empty: 'No blank lot received' }));
    clear(
      document.getElementById('centres'),
      table(['Centre', 'Dispatched', 'In transit', 'At centre', 'Issued', 'Returned', 'Difference'], r.centres.map((c) => [c.centre, c.dispatched, c.inTransit, c.atCentre, c.issued, c.returned, c.difference]), { empty: 'Nothing dispatched yet' }),
    );
    clear(
      document.getElementById('batches'),
      table(['Batch', 'Blanks used', 'Issued', 'In process', 'Spoiled', 'Spoilage'], r.batches.map((x) => [x.batch === null ? 'none' : el('a', { href: `/console/batch.html?id=${x.batch}` }, `#${x.batch}`), x.consumed, x.issued, x.inProcess, x.spoiled, `${(x.spoilageRate * 100).toFixed(1)} %`]), { empty: 'No blank used yet' }),
    );
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
}
ready();
