import { announce, api, clear, el, errorText, fmt, ready, refuseUnless, start, table } from './kadi.js';

const me = await start('dispatch');

const loc = document.getElementById('location');
const scanInput = document.getElementById('box-scan');
const scanMsg = document.getElementById('scan-message');
const issueDoc = document.getElementById('issue-doc');
const issueMsg = document.getElementById('issue-message');
const issuePanel = document.getElementById('issue-card');
const bureauMsg = document.getElementById('bureau-message');
const scans = [];
let issuing = null;

function renderScans() {
  clear(document.getElementById('scans'), table(['Time', 'Box', 'Event', 'Result', 'Cards'], scans.map((s) => [s.at, s.box, s.event, s.result, s.cards]), { empty: 'No scan yet' }));
}

async function loadBoxes() {
  const { boxes } = await api('GET', '/api/dispatch/boxes');
  clear(
    document.getElementById('boxes'),
    table(['Box', 'Centre', 'State', 'Cards', 'Seal', 'Shipment'], boxes.slice(-50).reverse().map((b) => [b.code, b.centre, el('span', { class: 'state' }, b.state), b.cards, b.sealNumber ?? '', b.shipment ?? '']), { empty: 'No box yet' }),
  );
}

if (!refuseUnless(me, 'dispatch.scan', 'scan boxes or issue cards')) {
  loc.append(el('option', { value: 'BUREAU' }, 'BUREAU (card bureau)'));
  loc.addEventListener('change', () => localStorage.setItem('kadi.dispatch.location', loc.value));

  document.getElementById('scan-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = scanInput.value.trim().toUpperCase();
    if (!code) return;
    const event = document.getElementById('event').value;
    const at = new Date().toISOString().slice(11, 19);
    try {
      const r = await api('POST', '/api/dispatch/scans', { code, event, at: loc.value });
      scans.unshift({ at, box: r.box, event, result: `${r.from} → ${r.to}`, cards: r.cards });
      announce(scanMsg, `Box ${r.box}: ${r.from} → ${r.to}, ${fmt(r.cards)} cards${r.shipment ? ` (shipment ${r.shipment.code} ${r.shipment.state})` : ''}.`, 'ok');
    } catch (e) {
      scans.unshift({ at, box: code, event, result: e.code ?? 'ERROR', cards: 0 });
      announce(scanMsg, errorText(e), 'error');
    }
    renderScans();
    scanInput.value = '';
    scanInput.focus();
    loadBoxes().catch(() => {});
  });

  document.getElementById('issue-find').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const doc = issueDoc.value.trim().toUpperCase();
    if (!doc) return;
    issuePanel.hidden = true;
    issuing = null;
    try {
      const c = await api('GET', `/api/cards/${encodeURIComponent(doc)}`);
      issuing = c;
      const h = c.holder ?? {};
      document.getElementById('issue-name').textContent = [h.givenNames, h.surname].filter(Boolean).join(' ') || '(no name on record)';
      document.getElementById('issue-docno').textContent = c.documentNumber;
      const st = document.getElementById('issue-state');
      st.textContent = c.state;
      st.className = `state ${c.state}`;
      document.getElementById('issue-centre').textContent = c.centre;
      document.getElementById('issue-photo').src = `/api/cards/${encodeURIComponent(c.documentNumber)}/photo`;
      document.getElementById('presented').value = '';
      issuePanel.hidden = false;
      if (c.state !== 'RECEIVED') announce(issueMsg, `${c.documentNumber} is ${c.state}; only RECEIVED cards are issued.`, 'error');
      else if (c.centre !== loc.value) announce(issueMsg, `${c.documentNumber} is for ${c.centre}, you are at ${loc.value}.`, 'error');
      else announce(issueMsg, 'Compare the holder with the portrait, check the identity presented, then issue.', 'info');
      document.getElementById('presented').focus();
    } catch (e) {
      announce(issueMsg, errorText(e), 'error');
      issueDoc.focus();
    }
  });

  document.getElementById('issue-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!issuing) return;
    const presented = document.getElementById('presented').value.trim();
    try {
      const r = await api('POST', '/api/dispatch/issue', { documentNumber: issuing.documentNumber, centre: loc.value, ...(presented ? { holderNationalNumber: presented } : {}) });
      announce(issueMsg, `${r.documentNumber} ISSUED at ${r.centre}.`, 'ok');
      issuePanel.hidden = true;
      issuing = null;
      issueDoc.value = '';
    } catch (e) {
      announce(issueMsg, errorText(e), 'error');
    }
    document.getElementById('presented').value = '';
    issueDoc.focus();
  });

  document.getElementById('pack-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const batch = Number(document.getElementById('pack-batch').value) || undefined;
    try {
      const r = await api('POST', '/api/dispatch/pack', { sealPartial: document.getElementById('seal-partial').checked, ...(batch ? { batchId: batch } : {}) });
      announce(bureauMsg, `Packed ${fmt(r.packed)} cards into ${fmt(r.boxes.length)} boxes (${fmt(r.boxesSealed)} sealed).`, 'ok');
      await loadBoxes();
    } catch (e) {
      announce(bureauMsg, errorText(e), 'error');
    }
  });
  document.getElementById('ship').addEventListener('click', async () => {
    try {
      const r = await api('POST', '/api/dispatch/ship', {});
      announce(bureauMsg, `Shipped ${fmt(r.boxesDispatched)} boxes, ${fmt(r.cardsDispatched)} cards, on ${fmt(r.shipments.length)} shipments.`, 'ok');
      await loadBoxes();
    } catch (e) {
      announce(bureauMsg, errorText(e), 'error');
    }
  });
  renderScans();
  scanInput.focus();
  const { centres } = await api('GET', '/api/centres');
  loc.append(...centres.map((c) => el('option', { value: c.code }, `${c.code} ${c.name}`)));
  loc.value = localStorage.getItem('kadi.dispatch.location') || 'BUREAU';
  if (!loc.value) loc.value = 'BUREAU';
  await loadBoxes();
}
ready();
