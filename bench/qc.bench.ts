/**
 * Chip QC speed on Kadi's virtual card (`npm run bench -- qc`).
 *
 * A card is personalised once (software CSCA/DS: the HSM plays no part in reading) and put into a vpcd slot of a
 * pcscd started for this bench (with the TCP_NODELAY shim of scripts/services.sh). Then, repeatedly, the full
 * inspection-system QC of that card: the PC/SC read (EF.ATR/INFO, select, probe, BAC, every file under secure
 * messaging, AA, lock probe) and the checks (passive authentication with CRL, AA verification, record
 * comparison). Figures, all per card:
 *
 *   qc.chip.pcsc.seconds_per_card     read + checks through pcscd + vpcd        (what a QC desk waits for)
 *   qc.chip.pcsc.apdu_seconds         of which inside SCardTransmit             (baseline: the raw APDU time)
 *   qc.chip.pcsc.software_share       1 - apdu/total                            (what Kadi's software costs)
 *   qc.chip.apdus                     commands per card
 *   qc.chip.checks.ms                 the checks alone (PA + AA + record), no card
 *   qc.chip.memory.seconds_per_card   read + checks against the card in memory (no transport)
 *
 * Face QC from a card's PDF (src/qc readFaceFromPdf: MRZ from pdftotext, seal from a 300 dpi pdftoppm rendering
 * searched by the Data Matrix locator), per card, for one-card PDFs as the print stage writes them:
 *
 *   qc.face.cpu_ms                    Kadi's CPU (this process), the seal's area only (the template known)
 *   qc.face.poppler_cpu_ms            the poppler helpers' CPU (pdftotext + pdftoppm and the helper shell)
 *   qc.face.full_page.cpu_ms          baseline: the whole page rendered and searched (template unknown)
 *   qc.face.full_page.poppler_cpu_ms  its poppler CPU
 *
 * Not measured here: recording the result (one database transaction).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CardLauncher, DirCardStore, createCardRuntime, manufactureCard } from '../applets/index.ts';
import { hex } from '../applets/testing/index.ts';
import { PcscCardChannel, PcscContext } from '../src/encoders/index.ts';
import { CscaStore, parseCertificate } from '../src/pki/index.ts';
import { buildChipImage, type PersonData } from '../src/prepare/index.ts';
import { idSealFeatures, loadTemplateFile, renderCardPdf, sealArea, sealDataFor, signVds } from '../src/print/index.ts';
import { type QcExpectation, type QcTrust, checkChip, readChip, readFaceFromPdf, type ChipRead } from '../src/qc/index.ts';
import { generatePhoto } from '../src/registry/index.ts';
import { Rng } from '../src/shared/index.ts';
import { makeConfig, startServices, stopServices } from '../test/support/services.ts';
import { personaliseTestCard, softwarePki } from '../test/support/qc-cards.ts';
import { type BenchContext, round } from './lib.ts';
import { header, pool, softSigner } from './print.bench.ts';

const MASTER = hex('5A5B5C5D5E5F606162636465666768696A6B6C6D6E6F70717273747576777879');
const PERSON: PersonData = {
  registryId: 1,
  nationalNumber: '31234567',
  surname: 'WANJIRU',
  givenNames: 'AMANI NJERI',
  sex: 'F',
  dateOfBirth: '1990-02-14',
  placeOfBirth: 'NYERI',
  county: 'Nyeri',
  address: 'P.O. BOX 123 OTHAYA',
  nhifNumber: 'N1234567',
  nssfNumber: null,
  kraPin: 'A012345678Z',
  collectionCentre: 'KE-019-01',
};
const DOC = {
  documentNumber: 'KA0000042',
  issuingState: 'KEN',
  dateOfIssue: '2026-11-25',
  dateOfExpiry: '2036-11-24',
  issuingAuthority: 'PRINCIPAL REGISTRAR OF PERSONS',
  personalisedAt: '2026-11-25T08:00:00Z',
  personalisationSystem: 'KADI-BENCH',
};
const BAC = { documentNumber: DOC.documentNumber, dateOfBirth: '900214', dateOfExpiry: '361124' };

/** Runs `op` for about `seconds` (after 3 warm-up runs); returns per-run samples. */
async function repeat<T>(seconds: number, op: () => Promise<T>): Promise<T[]> {
  for (let i = 0; i < 3; i++) await op();
  const out: T[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || out.length < 5) out.push(await op());
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** CPU ms of this process's children that are still running (the poppler helpers) and of what they waited for. */
function helperCpuMs(): number {
  let t = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(f[1]) === process.pid) t += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10; // clock ticks of 10 ms
    } catch {
      // gone meanwhile
    }
  }
  return t;
}

/** Face QC from one-card PDFs (see the module comment). */
async function faceFigures(ctx: BenchContext): Promise<void> {
  const { template, baseDir } = await loadTemplateFile(new URL('../templates/kenya-eid.json', import.meta.url).pathname);
  const signer = softSigner();
  const dir = mkdtempSync(path.join(ctx.tmpDir, 'face-'));
  const cards: Array<{ pdf: string; documentNumber: string; mrz: string; seal: Uint8Array }> = [];
  for (const e of pool(20)) {
    const seal = await signVds(header(), idSealFeatures(sealDataFor(e.face)), signer);
    const pdf = path.join(dir, `card-${e.face.cardId}.pdf`);
    writeFileSync(pdf, await renderCardPdf(template, baseDir, { ...e.face, seal }));
    cards.push({ pdf, documentNumber: e.face.documentNumber, mrz: e.face.mrz.join(''), seal });
  }
  const area = sealArea(template)!;
  for (const [name, hint] of [['qc.face', { page: 2, area }], ['qc.face.full_page', undefined]] as const) {
    for (let i = 0; i < 5; i++) await readFaceFromPdf(cards[i]!.pdf, [2, 1], cards[i]!.documentNumber, hint);
    const n = Math.max(40, Math.round(ctx.seconds * 20));
    const c0 = process.cpuUsage();
    const h0 = helperCpuMs();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const c = cards[i % cards.length]!;
      const r = await readFaceFromPdf(c.pdf, [2, 1], c.documentNumber, hint);
      if (r.faceMrz?.join('') !== c.mrz || !r.seal || !Buffer.from(r.seal).equals(Buffer.from(c.seal))) throw new Error(`${name}: the face of ${c.documentNumber} was not read back`);
    }
    const cu = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / n;
    const base = name !== 'qc.face';
    ctx.report({ name: `${name}.cpu_ms`, value: round((cu.user + cu.system) / 1000 / n, 2), unit: 'ms', n, wallMs: round(wall, 1), ...(base ? { baseline: true } : {}), what: `Kadi CPU per card face read (MRZ + seal), ${base ? 'whole page' : "seal's area"}` });
    ctx.report({ name: `${name}.poppler_cpu_ms`, value: round((helperCpuMs() - h0) / n, 1), unit: 'ms', n, ...(base ? { baseline: true } : {}), what: 'poppler helper CPU per card (10 ms clock ticks, averaged)' });
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  await faceFigures(ctx);
  const photo = new Uint8Array(generatePhoto(new Rng('qc-bench')));
  const image = buildChipImage(PERSON, photo, DOC);
  const pki = await softwarePki();
  const trust: QcTrust = { cscas: new CscaStore([parseCertificate(pki.cscaCertificate)]), crls: [await pki.crl()] };
  const expected: QcExpectation = { documentNumber: DOC.documentNumber, issuingState: 'KEN', dateOfIssue: DOC.dateOfIssue, dateOfExpiry: DOC.dateOfExpiry, issuingAuthority: DOC.issuingAuthority, person: PERSON, photo };
  const lds = [...image.dataGroups.values()].reduce((n, b) => n + b.length, image.com.length);
  ctx.log(`card: EF.COM + ${image.dataGroups.size + 1} data groups + EF.SOD, ${lds} bytes before DG15/SOD (DG2 ${image.dataGroups.get(2)!.length} bytes)`);

  // ---- the checks alone, and the whole QC against the card in memory
  const state = manufactureCard({ masterKey: MASTER });
  const rt = createCardRuntime(state);
  rt.powerOn();
  await personaliseTestCard((a) => rt.transmit(a), { serial: state.serial, masterKey: MASTER, com: image.com, dataGroups: image.dataGroups, bac: BAC, signSod: (d) => pki.signSod(d) });
  const memChannel = { transmit: async (a: Uint8Array) => rt.transmit(a) };
  let sample: ChipRead | undefined;
  const mem = await repeat(ctx.seconds, async () => {
    rt.powerOff();
    rt.powerOn();
    const t0 = performance.now();
    const read = await readChip(memChannel, { mrz: image.mrz });
    const c = checkChip(read, { trust, expected });
    if (!c.passed) throw new Error(`the bench card fails QC: ${c.primary?.code}`);
    sample = read;
    return performance.now() - t0;
  });
  const checks = await repeat(ctx.seconds, async () => {
    const t0 = performance.now();
    checkChip(sample!, { trust, expected });
    return performance.now() - t0;
  });
  ctx.report({ name: 'qc.chip.checks.ms', value: round(median(checks), 3), unit: 'ms', n: checks.length, what: 'PA (signature, chain, CRL, 7 DG hashes) + AA verify + record comparison, median' });
  ctx.report({ name: 'qc.chip.memory.seconds_per_card', value: round(median(mem) / 1000, 5), unit: 's', n: mem.length, what: 'read + checks, card runtime in memory (no transport), median' });

  // ---- through pcscd + vpcd
  const dir = mkdtempSync(path.join(ctx.tmpDir, 'svc-'));
  const cfg = await makeConfig(dir, { readers: 1 });
  const info = await startServices(cfg, ['pcscd']);
  process.env.PCSCLITE_CSOCK_NAME = info.pcscSocket;
  const slotInfo = info.slots[0]!;
  const slot = { index: 0, port: slotInfo.port, name: slotInfo.name };
  const launcher = new CardLauncher({ store: new DirCardStore(path.join(dir, 'cards')), masterKey: MASTER });
  let pcsc: PcscContext | undefined;
  try {
    pcsc = await PcscContext.open({ readers: [slot.name], only: [slot.name] });
    const c = await launcher.insertNew(slot);
    await pcsc.waitPresent(slot.name);
    const enc = new PcscCardChannel(pcsc, slot.name, { share: 'exclusive' });
    await enc.connect();
    await personaliseTestCard((a) => enc.transmit(a), { serial: c.serial, masterKey: MASTER, com: image.com, dataGroups: image.dataGroups, bac: BAC, signSod: (d) => pki.signSod(d) });
    await enc.disconnect('reset');
    const ch = new PcscCardChannel(pcsc, slot.name, { share: 'shared' });
    const runs = await repeat(ctx.seconds, async () => {
      await ch.reset(); // a fresh card session each time, as a card put into the QC reader
      const t0 = performance.now();
      const read = await readChip(ch, { mrz: image.mrz });
      const chk = checkChip(read, { trust, expected });
      if (!chk.passed) throw new Error(`the bench card fails QC through PC/SC: ${chk.primary?.code}`);
      return { total: performance.now() - t0, apdu: read.stats.transmitMs, apdus: read.stats.apdus, bytes: read.stats.bytesReceived };
    });
    await ch.disconnect('leave');
    const total = median(runs.map((r) => r.total));
    const apdu = median(runs.map((r) => r.apdu));
    ctx.report({ name: 'qc.chip.pcsc.seconds_per_card', value: round(total / 1000, 5), unit: 's', n: runs.length, what: 'read + checks through pcscd + vpcd (shimmed), median' });
    ctx.report({ name: 'qc.chip.pcsc.apdu_seconds', value: round(apdu / 1000, 5), unit: 's', n: runs.length, baseline: true, what: 'time inside SCardTransmit for the same reads, median' });
    ctx.report({ name: 'qc.chip.pcsc.software_share', value: round(1 - apdu / total, 3), unit: 'ratio', n: runs.length });
    ctx.report({ name: 'qc.chip.apdus', value: runs[0]!.apdus, unit: 'APDUs', n: runs.length, bytesReceived: runs[0]!.bytes });
    ctx.report({ name: 'qc.chip.pcsc.cards_per_second', value: round(1000 / total, 1), unit: 'cards/s', n: runs.length, what: 'one reader, chip QC only' });
  } finally {
    await launcher.stop();
    if (pcsc) await pcsc.waitEmpty(slot.name).catch(() => undefined);
    pcsc?.close();
    await stopServices(cfg, ['pcscd']);
    rmSync(dir, { recursive: true, force: true });
  }
}

export default run;
