/**
 * QC of one card, end to end: load what the card must say, read and judge (chip or face), record the result with
 * the reject loop. Used by the pipeline's qc stage, `kadi qc ...` and the API.
 *
 * Chip QC starts from the MRZ printed on the card (the chip image's MRZ, which the print stage prints): nothing
 * read from the chip is trusted before BAC, passive and active authentication have passed. A card whose read
 * failed at the transport level (QC_CHIP_UNREADABLE) is read once more after a reset before it is failed — a dusty
 * contact must not burn a good card; every other failure is final.
 */
import type { Knex } from 'knex';
import type { Transmitter } from '../chip/index.ts';
import { StateError } from '../shared/index.ts';
import { type ChipCheckResult, type QcTrust, checkChip } from './checks.ts';
import { type FaceChipData, type FaceCheckResult, type SealTrust, checkFace } from './face.ts';
import type { QcFinding } from './reasons.ts';
import { type ChipRead, type ChipReadOptions, readChip } from './reader.ts';
import { type ExpectationOptions, type QcOutcome, type QcPolicy, loadExpectation, loadSealTrust, loadTrust, recordQcResult } from './store.ts';

export interface QcDeps {
  db: Knex;
  /** Who checks (QC user or worker id): recorded with the result and in the audit log. */
  actor: string;
  station?: string;
  policy?: QcPolicy;
  expectation?: ExpectationOptions;
  /** Trust material; loaded from the key records when absent. */
  trust?: QcTrust;
  sealTrust?: SealTrust;
  /** Check time. Default now. */
  at?: () => Date;
}

/** A channel the QC may reset between two attempts (PcscCardChannel has one). */
export type QcChannel = Transmitter & { reset?: () => Promise<void> };

export interface ChipQcRun {
  cardId: number;
  check: ChipCheckResult;
  read: ChipRead;
  /** Reads made (2 when the first was unreadable). */
  attempts: number;
  /** The recorded result (absent with `record: false`). */
  outcome?: QcOutcome;
}

/** The machine-readable part of a result: codes, steps, counts. No personal data, no key bytes. */
export function findingDetails(findings: readonly QcFinding[]): Array<{ code: string; details?: Record<string, unknown> }> {
  return findings.map((f) => ({ code: f.code, ...(f.details ? { details: f.details } : {}) }));
}

function chipDetails(r: ChipQcRun): Record<string, unknown> {
  const c = r.check;
  return {
    steps: c.steps,
    findings: findingDetails(c.findings),
    ...(c.passiveAuth ? { passiveAuth: c.passiveAuth } : {}),
    ...(c.activeAuth ? { activeAuth: c.activeAuth } : {}),
    read: {
      apdus: r.read.stats.apdus,
      bytesReceived: r.read.stats.bytesReceived,
      transmitMs: Math.round(r.read.stats.transmitMs * 100) / 100,
      totalMs: Math.round(r.read.stats.totalMs * 100) / 100,
      limits: r.read.limits.source,
      attempts: r.attempts,
    },
  };
}

/**
 * Chip QC of `cardId` on the card in `channel` (see the module comment). With `record` (default true) the result
 * is recorded (pass, or fail + spoil + replacement). Throws WrongCardError (QC_WRONG_CARD, nothing recorded) when
 * `identify` finds another chip serial than the card's.
 */
export async function runChipQc(
  deps: QcDeps,
  cardId: number,
  channel: QcChannel,
  opts: { record?: boolean; identify?: boolean; read?: Partial<ChipReadOptions> } = {},
): Promise<ChipQcRun> {
  const x = await loadExpectation(deps.db, cardId, deps.expectation);
  if ((opts.record ?? true) && x.card.state !== 'PRINTED') {
    throw new StateError('QC_CARD_NOT_PRINTED', `card ${x.card.documentNumber ?? cardId} is ${x.card.state}; QC takes PRINTED cards`, {
      hint: 'A card is checked once, after printing (`--no-record` checks any card without recording).',
      details: { cardId, state: x.card.state },
    });
  }
  const trust = deps.trust ?? (await loadTrust(deps.db));
  const readOpts: ChipReadOptions = {
    ...opts.read,
    // the MRZ as scanned on the card when the desk gives one; else the MRZ the card was printed with
    mrz: opts.read?.mrz ?? x.printedMrz,
    ...(opts.identify !== false && x.card.chipSerial && /^[0-9A-F]{12}([0-9A-F]{8})?$/i.test(x.card.chipSerial) ? { expectChipSerial: x.card.chipSerial } : {}),
  };
  let read = await readChip(channel, readOpts);
  let attempts = 1;
  if (read.findings.some((f) => f.code === 'QC_CHIP_UNREADABLE') && channel.reset) {
    try {
      await channel.reset();
      read = await readChip(channel, readOpts);
      attempts = 2;
    } catch {
      // the reset itself failed: judge the first read
    }
  }
  const check = checkChip(read, { trust, expected: x.expected, at: deps.at?.() ?? new Date() });
  const run: ChipQcRun = { cardId, check, read, attempts };
  if (opts.record ?? true) {
    run.outcome = await recordQcResult(deps.db, {
      cardId,
      kind: 'CHIP',
      passed: check.passed,
      ...(check.primary ? { reasonCode: check.primary.code } : {}),
      details: chipDetails(run),
      actor: deps.actor,
      ...(deps.station ? { station: deps.station } : {}),
      ...(deps.policy ? { policy: deps.policy } : {}),
      ...(deps.at ? { at: deps.at() } : {}),
    });
  }
  return run;
}

export interface FaceQcRun {
  cardId: number;
  check: FaceCheckResult;
  outcome?: QcOutcome;
}

/**
 * Face QC of `cardId` from what was read on its face (the station's MRZ scanner and seal reader, or the PDF
 * adapter). The chip side is `chip` (a chip read) or, by default, the prepared chip image — what chip QC has
 * proven the chip holds.
 */
export async function runFaceQc(
  deps: QcDeps,
  cardId: number,
  face: { faceMrz: string | readonly string[] | undefined; seal: Uint8Array | undefined },
  opts: { record?: boolean; chip?: FaceChipData; requireSeal?: boolean } = {},
): Promise<FaceQcRun> {
  let chip = opts.chip;
  if (!chip) {
    const x = await loadExpectation(deps.db, cardId, deps.expectation);
    const dgs = x.preparedDataGroups;
    chip = { dg1: dgs.get(1) ?? x.printedMrz, ...(dgs.get(11) ? { dg11: dgs.get(11)! } : {}), ...(dgs.get(13) ? { dg13: dgs.get(13)! } : {}) };
  }
  const sealTrust = deps.sealTrust ?? (await loadSealTrust(deps.db, deps.trust));
  const at = deps.at?.() ?? new Date();
  const check = checkFace({ faceMrz: face.faceMrz, seal: face.seal, chip, trust: sealTrust, at, ...(opts.requireSeal !== undefined ? { requireSeal: opts.requireSeal } : {}) });
  const run: FaceQcRun = { cardId, check };
  if (opts.record ?? true) {
    run.outcome = await recordQcResult(deps.db, {
      cardId,
      kind: 'FACE',
      passed: check.passed,
      ...(check.primary ? { reasonCode: check.primary.code } : {}),
      details: { steps: check.steps, findings: findingDetails(check.findings), ...(check.seal ? { seal: check.seal } : {}) },
      actor: deps.actor,
      ...(deps.station ? { station: deps.station } : {}),
      ...(deps.policy ? { policy: deps.policy } : {}),
      at,
    });
  }
  return run;
}
