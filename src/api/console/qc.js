import { announce, api, clear, el, errorText, ready, refuseUnless, start, table, when } from './kadi.js';

const me = await start('qc');
const scan = document.getElementById('scan');
const station = document.getElementById('station');
const msg = document.getElementById('message');
const panel = document.getElementById('card');
const passBtn = document.getElementById('pass');
const failBtn = document.getElementById('fail');
const reasonSel = document.getElementById('reason');
const recent = [];
let current = null;
let requiredKinds = ['CHIP', 'FACE'];

function focusScan() {
  scan.focus();
  scan.select();
}

function renderRecent() {
  clear(document.getElementById('recent'), table(['Time', 'Document', 'Result', 'Reason'], recent.map((r) => [r.at, r.doc, r.result, r.reason ?? '']), { empty: 'No card checked yet' }));
}

function setButtons(enabled) {
  passBtn.disabled = !enabled;
  failBtn.disabled = !enabled;
}

async function lookup(doc) {
  current = null;
  panel.hidden = true;
  try {
    const c = await api('GET', `/api/cards/${encodeURIComponent(doc)}`);
    current = c;
    document.getElementById('doc').textContent = c.documentNumber;
    const st = document.getElementById('state');
    st.textContent = c.state;
    st.className = `state ${c.state}`;
    const h = c.holder ?? {};
    clear(
      document.getElementById('holder'),
      [
        ['Surname', h.surname],
        ['Given names', h.givenNames],
        ['Sex', h.sex],
        ['Date of birth', h.dateOfBirth],
        ['Batch', c.batchId === null ? '–' : `#${c.batchId}`],
      ].map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v ?? '–'))),
    );
    document.getElementById('photo').src = `/api/cards/${encodeURIComponent(c.documentNumber)}/photo`;
    clear(
      document.getElementById('checks'),
      table(
        ['Check', 'Result', 'Reason', 'By', 'When'],
        c.qc.map((q) => [q.kind, q.passed ? 'pass' : 'FAIL', q.reasonCode ?? '', `${q.operator}${q.station ? ` @ ${q.station}` : ''}`, when(q.at)]),
        { empty: 'No chip or face check recorded yet' },
      ),
    );
    const passedKinds = new Set(c.qc.filter((q) => q.passed).map((q) => q.kind));
    clear(
      document.getElementById('required'),
      'Required before QC_PASSED: ',
      requiredKinds.flatMap((k, i) => [i ? ', ' : null, el('span', { class: `state ${passedKinds.has(k) ? 'QC_PASSED' : 'PRINTED'}` }, `${k} ${passedKinds.has(k) ? '✓' : '…'}`)]),
    );
    panel.hidden = false;
    const ready = c.state === 'PRINTED';
    setButtons(ready);
    if (ready) announce(msg, `${c.documentNumber} ready: check the chip and face, then pass (F2) or fail (F4).`, 'info');
    else announce(msg, `${c.documentNumber} is ${c.state}: QC takes PRINTED cards only.`, 'error');
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
  focusScan();
}

async function submit(passed) {
  if (!current || passBtn.disabled) return;
  const doc = current.documentNumber;
  const reasonCode = passed ? undefined : reasonSel.value;
  setButtons(false);
  try {
    const r = await api('POST', '/api/qc/results', {
      documentNumber: doc,
      passed,
      kind: 'VISUAL',
      ...(reasonCode ? { reasonCode } : {}),
      ...(station.value.trim() ? { station: station.value.trim() } : {}),
    });
    localStorage.setItem('kadi.qc.station', station.value.trim());
    recent.unshift({ at: new Date().toISOString().slice(11, 19), doc, result: r.state, reason: r.reasonCode });
    renderRecent();
    if (r.state === 'QC_PASSED') announce(msg, `${doc} PASSED (QC_PASSED).`, 'ok');
    else if (r.state === 'PRINTED') announce(msg, `${doc}: visual pass recorded; still waiting for ${r.pendingKinds.join(', ')}.`, 'info');
    else announce(msg, `${doc} FAILED (${r.reasonCode}): card spoiled, ${r.replacementCardId ? 'a new card is ordered' : `order ${r.orderStatus ?? 'not re-queued'}`}.`, 'error');
    panel.hidden = true;
    current = null;
    scan.value = '';
  } catch (e) {
    announce(msg, errorText(e), 'error');
    setButtons(true);
  }
  focusScan();
}

if (!refuseUnless(me, 'qc.submit', 'submit QC results')) {
  station.value = localStorage.getItem('kadi.qc.station') || station.value;
  document.getElementById('scan-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const doc = scan.value.trim().toUpperCase();
    if (doc) void lookup(doc);
  });
  passBtn.addEventListener('click', () => void submit(true));
  failBtn.addEventListener('click', () => void submit(false));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'F2') {
      ev.preventDefault();
      void submit(true);
    } else if (ev.key === 'F4') {
      ev.preventDefault();
      void submit(false);
    } else if (ev.key === 'Escape') {
      focusScan();
    }
  });
  renderRecent();
  focusScan();
  const q = await api('GET', '/api/qc/reasons?kind=VISUAL');
  requiredKinds = q.requiredKinds;
  reasonSel.append(...q.reasons.map((r) => el('option', { value: r.code, title: r.action }, `${r.code} — ${r.description}`)));
}
ready();
