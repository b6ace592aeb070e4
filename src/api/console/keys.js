import { announce, api, can, clear, el, errorText, ready, refuseUnless, start, table, when } from './kadi.js';

const me = await start('keys');
const msg = document.getElementById('message');

async function load() {
  const r = await api('GET', '/api/keys');
  document.getElementById('crl').textContent = r.crl ? `Current CRL #${r.crl.crlNumber}, next update ${when(r.crl.nextUpdate)} UTC.` : 'No CRL issued yet.';
  clear(
    document.getElementById('keys'),
    table(
      ['Kind', 'Label', 'Algorithm', 'Status', 'Signs until', 'Certificate valid until', 'Serial', 'Created by'],
      r.keys.map((k) => [k.kind, k.label, k.algorithm, el('span', { class: 'state' }, k.status + (k.inUsagePeriod ? ' (in use)' : '')), when(k.privateKeyUsage.notAfter), when(k.notAfter), k.serial, k.createdBy]),
      { empty: 'No key yet: run the key ceremony (kadi keys ceremony).' },
    ),
  );
}

if (!refuseUnless(me, 'keys.read', 'see keys')) {
  try {
    await load();
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
  if (can(me, 'keys.manage')) {
    document.getElementById('ops').hidden = false;
    const out = document.getElementById('ops-message');
    document.getElementById('rotate').addEventListener('click', async () => {
      if (!confirm('Rotate the Document Signer now? The current DS stops signing.')) return;
      try {
        const r = await api('POST', '/api/keys/rotate-ds', {});
        announce(out, `New Document Signer ${r.ds.label}; retired: ${r.retired.join(', ') || 'none'}.`, 'ok');
        await load();
      } catch (e) {
        announce(out, errorText(e), 'error');
      }
    });
    document.getElementById('crl-btn').addEventListener('click', async () => {
      try {
        const r = await api('POST', '/api/keys/crl', {});
        announce(out, `CRL #${r.crlNumber} issued, next update ${when(r.nextUpdate)} UTC.`, 'ok');
        await load();
      } catch (e) {
        announce(out, errorText(e), 'error');
      }
    });
  }
}
ready();
