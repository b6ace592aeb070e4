/**
 * `kadi qc ...`: quality control at the QC desk.
 *
 * ```
 *   kadi qc chip --reader NAME [--card DOC | --mrz MRZ] [--no-record] [--station S] [--require KINDS]
 *                [--max-attempts N] [--addressing sfi|fid] [--trace] [--json]
 *       reads the card in reader NAME as an inspection system (BAC from the printed MRZ, every file, passive and
 *       active authentication, lock) and compares it with the order's record; records the result (a failure
 *       spoils the card and re-queues its order). The MRZ: --mrz (what the desk's MRZ scanner read on the card;
 *       3 lines joined, or separated by newlines / spaces) or --card (the card's printed MRZ from the records).
 *   kadi qc face CARD [--mrz MRZ] [--seal HEX | --seal-png FILE] [--no-record] [--station S] [--json]
 *       the printed face against the chip: MRZ = DG1, the seal verifies and matches; without --mrz, the face is
 *       read from the card's print job PDF (text layer + 300 dpi rendering)
 *   kadi qc visual CARD (--pass | --defect CODE) [--note TEXT] [--station S] [--json]
 *       a visual inspection by QC staff; CODE one of the VISUAL reason codes
 *   kadi qc show CARD [--json]               the card's QC results
 *   kadi qc report BATCH_ID [--out FILE.pdf] [--json]
 *       pass rate, failures by reason, per encoder, per operator and station
 *   kadi qc reasons [--kind CHIP|FACE|VISUAL] [--json]   the reason codes
 * ```
 * Exit codes: 0 pass (or recorded), 3 the card failed QC, 1 an error (nothing recorded), 2 usage.
 *
 * The reader: the local pcscd (PCSCLITE_CSOCK_NAME, else `$KADI_PCSC_DIR/env` written by scripts/services.sh,
 * default `$KADI_HOME/pcsc`), connected SHARED (read-only inspection).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { readPcscEnv } from '../../applets/index.ts';
import { PcscCardChannel, PcscContext } from '../encoders/index.ts';
import { parseMrz } from '../lds/index.ts';
import { sealFromHex, readSealFromPng } from '../print/index.ts';
import {
  QC_KINDS,
  QC_REASONS,
  type QcDeps,
  type QcKind,
  type QcPolicy,
  type QcReasonInfo,
  checkChip,
  findQcCard,
  isQcKind,
  loadTrust,
  qcReport,
  qcResults,
  readChip,
  readFaceFromPrintJob,
  recordVisualInspection,
  runChipQc,
  runFaceQc,
  writeQcReportPdf,
  type ChipCheckResult,
  type QcOutcome,
} from '../qc/index.ts';
import { KadiError, StateError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { printJson, printLine, table } from './output.ts';
import type { WithContext } from './run.ts';

/** Exit code of a card that failed QC. */
export const EXIT_QC_FAILED = 3;

function kindsArg(v: string): QcKind[] {
  const kinds = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const k of kinds) if (!isQcKind(k)) throw new InvalidArgumentError(`kinds are ${QC_KINDS.join(', ')}`);
  return kinds as QcKind[];
}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function stationArg(v: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) throw new InvalidArgumentError('a station name is 1-64 characters A-Z a-z 0-9 . _ -');
  return v;
}

/** The MRZ as typed or scanned: 3 lines joined, or separated by newlines, spaces or '/'. */
function mrzArg(v: string): string[] {
  const t = v.replace(/[\s/]+/g, '').toUpperCase();
  if (!/^[A-Z0-9<]{90}$/.test(t)) throw new InvalidArgumentError('the MRZ is 3 lines of 30 characters A-Z 0-9 <');
  return [t.slice(0, 30), t.slice(30, 60), t.slice(60)];
}

interface PolicyOpts {
  require?: QcKind[];
  maxAttempts?: number;
}

function policyOf(o: PolicyOpts): QcPolicy | undefined {
  if (!o.require && o.maxAttempts === undefined) return undefined;
  return { ...(o.require ? { requiredKinds: o.require } : {}), ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}) };
}

const policyOptions = (c: Command): Command =>
  c
    .addOption(new Option('--require <kinds>', 'kinds that must pass before a card is QC_PASSED (default chip,face)').argParser(kindsArg))
    .addOption(new Option('--max-attempts <n>', 'cards per order before it goes to REVIEW (default 3)').argParser(intArg('--max-attempts', 1, 20)));

/** Points libpcsclite at the installation's pcscd, unless the environment already does. */
function usePcscd(ctx: Context): void {
  if (process.env.PCSCLITE_CSOCK_NAME) return;
  const dir = path.resolve(process.env.KADI_PCSC_DIR || path.join(ctx.config.home, 'pcsc'));
  if (!existsSync(path.join(dir, 'env'))) return; // the system pcscd
  process.env.PCSCLITE_CSOCK_NAME = readPcscEnv(dir).socket;
}

function outcomeLine(o: QcOutcome): string {
  if (o.state === 'SPOILED') {
    const next = o.replacementCardId ? `order re-queued as card ${o.replacementCardId}` : o.orderStatus === 'REVIEW' ? 'order flagged for a supervisor (REVIEW)' : `order ${o.orderStatus ?? ''}`;
    return `recorded: ${o.kind} FAIL ${o.reasonCode} -> card SPOILED (destroy the blank); ${next}`;
  }
  if (o.state === 'QC_PASSED') return `recorded: ${o.kind} pass -> card QC_PASSED`;
  return `recorded: ${o.kind} pass; card stays PRINTED until ${o.pendingKinds.join(', ')} ${o.pendingKinds.length > 1 ? 'pass' : 'passes'}`;
}

function printChip(c: ChipCheckResult, extra: { apdus: number; ms: number; transmitMs: number; reader: string }): void {
  printLine(`chip QC ${c.passed ? 'PASSED' : `FAILED: ${c.primary!.code}`}   (${extra.apdus} APDUs, ${extra.ms.toFixed(0)} ms, reader "${extra.reader}")`);
  printLine(table(Object.entries(c.steps).map(([k, v]) => [`  ${k}`, v])));
  for (const f of c.findings) printLine(`  ${f.code}: ${f.message}`);
}

export function registerQcCommands(program: Command, withContext: WithContext, actor: () => string): void {
  const qc = program.command('qc').description('quality control: chip read-back, face, visual inspection, reports');

  policyOptions(
    qc
      .command('chip')
      .description('read the card in a reader as an inspection system and record the result')
      .requiredOption('--reader <name>', 'PC/SC reader name (as `kadi cards start` or pcsc_scan show it)')
      .option('--card <doc>', "the card's document number (its printed MRZ is taken from the records)")
      .addOption(new Option('--mrz <mrz>', 'the MRZ as scanned on the card (90 characters; lines may be separated)').argParser(mrzArg))
      .option('--no-record', 'check only: record nothing, change no card')
      .addOption(new Option('--station <name>', 'QC workstation name (default: the reader name)').argParser(stationArg))
      .addOption(new Option('--addressing <how>', 'sfi: READ BINARY by short file identifier; fid: SELECT + READ BINARY').choices(['sfi', 'fid']).default('sfi'))
      .option('--trace', 'print the APDU trace (headers, lengths, status words; no data)')
      .option('--json', 'JSON output'),
  ).action(
    async (o: { reader: string; card?: string; mrz?: string[]; record: boolean; station?: string; addressing: 'sfi' | 'fid'; trace?: boolean; json?: boolean } & PolicyOpts) =>
      withContext(!!o.json, async (ctx, defer) => {
        if (!o.card && !o.mrz) throw new KadiError('CLI_USAGE', 'give --card DOC or --mrz MRZ: BAC needs what is printed on the card');
        const db = await ctx.db();
        let docNumber = o.card;
        if (!docNumber && o.mrz) {
          try {
            docNumber = parseMrz(o.mrz).documentNumber;
          } catch (e) {
            throw new KadiError('QC_MRZ_UNREADABLE', `the MRZ given cannot be read (${(e as KadiError).code ?? 'invalid'})`, { hint: 'Scan the MRZ again, or give --card.' });
          }
        }
        const card = await findQcCard(db, docNumber!).catch((e: unknown) => {
          if (!o.record && o.mrz) return undefined; // a card Kadi did not make (or another bureau's): check it anyway
          throw e;
        });
        if (card && o.record && card.state !== 'PRINTED') {
          throw new StateError('QC_CARD_NOT_PRINTED', `card ${card.documentNumber ?? card.cardId} is ${card.state}; QC takes PRINTED cards`, {
            hint: 'A card is checked once, after printing; `--no-record` checks any card without recording.',
            details: { cardId: card.cardId, state: card.state },
          });
        }
        usePcscd(ctx);
        const pcsc = await PcscContext.open({ readers: [o.reader], only: [o.reader] });
        defer(() => pcsc.close());
        await pcsc.waitPresent(o.reader, 5_000).catch(() => {
          throw new KadiError('QC_NO_CARD', `no card in reader "${o.reader}"`, { hint: 'Insert the card (virtual cards: `kadi cards insert --document DOC`).' });
        });
        const channel = new PcscCardChannel(pcsc, o.reader, { share: 'shared' });
        await channel.connect();
        defer(() => channel.disconnect('leave'));
        const readOpts = { addressing: o.addressing, trace: !!o.trace };
        let check: ChipCheckResult;
        let stats;
        let trace;
        let outcome: QcOutcome | undefined;
        if (card) {
          const deps: QcDeps = { db, actor: actor(), station: o.station ?? o.reader, ...(policyOf(o) ? { policy: policyOf(o)! } : {}), expectation: { issuingState: ctx.config.issuingState } };
          const run = await runChipQc(deps, card.cardId, channel, { record: o.record, read: { ...readOpts, ...(o.mrz ? { mrz: o.mrz } : {}) } });
          ({ check, outcome } = run);
          stats = run.read.stats;
          trace = run.read.trace;
        } else {
          const read = await readChip(channel, { ...readOpts, mrz: o.mrz! });
          check = checkChip(read, { trust: await loadTrust(db) });
          stats = read.stats;
          trace = read.trace;
        }
        if (o.json) {
          printJson({
            card: card ? { id: card.cardId, documentNumber: card.documentNumber } : null,
            reader: o.reader,
            passed: check.passed,
            reasonCode: check.primary?.code ?? null,
            steps: check.steps,
            findings: check.findings,
            passiveAuth: check.passiveAuth ?? null,
            activeAuth: check.activeAuth ?? null,
            apdus: stats.apdus,
            apdusByStep: stats.apdusByStep,
            ms: Math.round(stats.totalMs * 10) / 10,
            transmitMs: Math.round(stats.transmitMs * 10) / 10,
            outcome: outcome ?? null,
            ...(trace ? { trace } : {}),
          });
        } else {
          printChip(check, { apdus: stats.apdus, ms: stats.totalMs, transmitMs: stats.transmitMs, reader: o.reader });
          if (trace) for (const r of trace) printLine(`  #${r.seq} ${r.cla.toString(16).padStart(2, '0')} ${r.ins.toString(16).padStart(2, '0')} ${r.label ?? ''} Lc=${r.lc} -> ${r.responseLength}B SW=${r.sw.toString(16).toUpperCase()} ${r.durationMs.toFixed(2)} ms ${r.secure}`);
          if (outcome) printLine(outcomeLine(outcome));
          else if (!o.record) printLine('not recorded (--no-record)');
        }
        return check.passed ? 0 : EXIT_QC_FAILED;
      }),
  );

  policyOptions(
    qc
      .command('face')
      .description('check the printed face against the chip: MRZ and Visible Digital Seal')
      .argument('<card>', 'document number (or card id)')
      .addOption(new Option('--mrz <mrz>', 'the MRZ as scanned on the face').argParser(mrzArg))
      .option('--seal <hex>', 'the seal bytes as read by the scanner (hex)')
      .option('--seal-png <file>', 'an image of the card side with the seal (upright, >= 300 dpi)')
      .option('--no-record', 'check only')
      .addOption(new Option('--station <name>', 'QC workstation name').argParser(stationArg))
      .option('--json', 'JSON output'),
  ).action(async (ref: string, o: { mrz?: string[]; seal?: string; sealPng?: string; record: boolean; station?: string; json?: boolean } & PolicyOpts) =>
    withContext(!!o.json, async (ctx) => {
      const db = await ctx.db();
      const card = await findQcCard(db, ref);
      let faceMrz: string[] | undefined = o.mrz;
      let seal: Uint8Array | undefined = o.seal ? sealFromHex(o.seal) : o.sealPng ? readSealFromPng(readFileSync(o.sealPng)) : undefined;
      let source = 'station';
      if (!o.mrz && !o.seal && !o.sealPng) {
        const r = await readFaceFromPrintJob(db, card.cardId);
        ({ faceMrz, seal } = r);
        source = `print job ${r.source.jobId}, pages ${r.source.pages.join(', ')}`;
      }
      const deps: QcDeps = { db, actor: actor(), ...(o.station ? { station: o.station } : {}), ...(policyOf(o) ? { policy: policyOf(o)! } : {}), expectation: { issuingState: ctx.config.issuingState } };
      const run = await runFaceQc(deps, card.cardId, { faceMrz, seal }, { record: o.record });
      const c = run.check;
      if (o.json) {
        printJson({ card: { id: card.cardId, documentNumber: card.documentNumber }, source, passed: c.passed, reasonCode: c.primary?.code ?? null, steps: c.steps, findings: c.findings, seal: c.seal ?? null, outcome: run.outcome ?? null });
      } else {
        printLine(`face QC ${c.passed ? 'PASSED' : `FAILED: ${c.primary!.code}`}   (read from ${source})`);
        printLine(table(Object.entries(c.steps).map(([k, v]) => [`  ${k}`, v])));
        for (const f of c.findings) printLine(`  ${f.code}: ${f.message}`);
        if (run.outcome) printLine(outcomeLine(run.outcome));
      }
      return c.passed ? 0 : EXIT_QC_FAILED;
    }),
  );

  policyOptions(
    qc
      .command('visual')
      .description('record a visual inspection: --pass, or --defect CODE')
      .argument('<card>', 'document number (or card id)')
      .option('--pass', 'no visual defect')
      .option('--defect <code>', `a VISUAL reason code: ${Object.entries(QC_REASONS).filter(([, r]) => r.kind === 'VISUAL' && !(r as QcReasonInfo).legacy).map(([c]) => c).join(', ')}`)
      .option('--note <text>', 'a short note (at most 200 characters, no personal data)')
      .addOption(new Option('--station <name>', 'QC workstation name').argParser(stationArg))
      .option('--json', 'JSON output'),
  ).action(async (ref: string, o: { pass?: boolean; defect?: string; note?: string; station?: string; json?: boolean } & PolicyOpts) =>
    withContext(!!o.json, async (ctx) => {
      if (!!o.pass === !!o.defect) throw new KadiError('CLI_USAGE', 'give exactly one of --pass and --defect CODE');
      const out = await recordVisualInspection(await ctx.db(), {
        ref,
        passed: !!o.pass,
        ...(o.defect ? { reasonCode: o.defect.toUpperCase() } : {}),
        ...(o.note ? { note: o.note } : {}),
        actor: actor(),
        ...(o.station ? { station: o.station } : {}),
        ...(policyOf(o) ? { policy: policyOf(o)! } : {}),
      });
      if (o.json) printJson(out);
      else printLine(outcomeLine(out));
      return out.passed ? 0 : EXIT_QC_FAILED;
    }),
  );

  qc.command('show')
    .description("a card's QC results")
    .argument('<card>', 'document number (or card id)')
    .option('--json', 'JSON output')
    .action(async (ref: string, o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const db = await ctx.db();
        const card = await findQcCard(db, ref);
        const results = await qcResults(db, card.cardId);
        if (o.json) return printJson({ card, results });
        printLine(`card ${card.cardId} ${card.documentNumber ?? ''} ${card.state}`);
        printLine(table(results.map((r) => [r.createdAt, r.kind, r.passed ? 'pass' : 'FAIL', r.reasonCode ?? '', r.operator, r.station ?? ''])));
      }),
    );

  qc.command('report')
    .description('QC report of a production batch: pass rate, failures by reason, per encoder and operator')
    .argument('<batch>', 'batch id', intArg('batch', 1, 2 ** 31 - 1))
    .option('--out <file>', 'write the report as a PDF')
    .option('--json', 'JSON output')
    .action(async (batchId: number, o: { out?: string; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const r = await qcReport(await ctx.db(), batchId);
        let pdf: { pages: number; bytes: number } | undefined;
        if (o.out) pdf = await writeQcReportPdf(r, path.resolve(o.out));
        if (o.json) return printJson({ ...r, ...(pdf && o.out ? { pdf: { path: path.resolve(o.out), ...pdf } } : {}) });
        const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
        printLine(`batch ${r.batchId} (${r.batchState}): ${r.cards.checked} of ${r.cards.inBatch} cards checked, ${r.cards.passed} passed, ${r.cards.failed} failed, ${r.cards.pending} pending; pass rate ${pct(r.cards.passRate)}`);
        printLine(`re-queued on a new blank: ${r.replacements}; flagged for a supervisor: ${r.flaggedForReview}; awaiting QC: ${r.cards.awaiting}`);
        if (r.failuresByReason.length) {
          printLine('Failures by reason');
          printLine(table(r.failuresByReason.map((f) => [`  ${f.code}`, f.kind, f.count, pct(f.share)])));
        }
        printLine('Per encoder');
        printLine(table(r.byEncoder.map((e) => [`  ${e.encoder}`, e.checked, e.passed, e.failed, pct(e.passRate)])));
        printLine('Per operator');
        printLine(table(r.byOperator.map((e) => [`  ${e.operator}`, e.results, e.passed, e.failed, pct(e.passRate)])));
        if (pdf) printLine(`wrote ${o.out} (${pdf.pages} page${pdf.pages > 1 ? 's' : ''})`);
      }),
    );

  qc.command('reasons')
    .description('the QC reason codes')
    .addOption(new Option('--kind <kind>', 'only this kind').choices([...QC_KINDS]))
    .option('--json', 'JSON output')
    .action(async (o: { kind?: QcKind; json?: boolean }) => {
      const list = Object.entries(QC_REASONS as Record<string, QcReasonInfo>)
        .filter(([, r]) => !o.kind || r.kind === o.kind)
        .map(([code, r]) => ({ code, ...r }));
      if (o.json) printJson(list);
      else printLine(table(list.map((r) => [r.code, r.kind, `${r.description}${r.legacy ? ' (legacy)' : ''}`])));
    });
}
