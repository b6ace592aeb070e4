/**
 * The qc stage: PRINTED -> QC_PASSED, or QC_FAILED -> SPOILED with the order re-queued on a new blank (src/qc,
 * src/cards spoilAndReplace; REVIEW after repeated failures).
 *
 * Per card: the card is put into a QC reader (the `reader` port: a QC desk's reader with the card inserted, or the
 * virtual cards daemon), its chip is read and judged as an inspection system would (src/qc runChipQc) and the
 * result recorded; when the chip passed, its face is read (the `face` port: the station's scanner, or the print
 * job's PDF) and judged against the chip just read. The card becomes QC_PASSED once every kind the policy
 * requires has passed (default CHIP and FACE; a VISUAL pass, when required, is recorded by QC staff and the card
 * waits in PRINTED for it).
 *
 * Outcomes: 'done' (checked: passed, or waiting for a human check), 'spoiled' (failed: blank spoiled, order
 * re-queued), 'skipped' (not PRINTED any more). Errors left the card untouched: QC_WRONG_CARD (another card in the
 * reader), a reader that cannot be had, a face that cannot be read — none of them retryable except what the ports
 * mark so: a wrong card must be looked at by a person, never retried into a spoil.
 */
import type { Knex } from 'knex';
import type { QcTrust } from '../qc/index.ts';
import { type FaceChipData, type QcChannel, type QcDeps, type QcPolicy, type SealTrust, loadSealTrust, loadTrust, readFaceFromPrintJob, runChipQc, runFaceQc } from '../qc/index.ts';
import { type Stage, stageSpec } from './stages.ts';

/** A QC reader holding the card. `release` is called in `finally` (take the card out, free the slot). */
export interface QcReaderLease {
  name: string;
  channel: QcChannel;
  release(): Promise<void>;
}

export interface QcStageOptions {
  db: Knex;
  /** Recorded as the QC operator of automated results, e.g. `worker:qc@host`. */
  actor: string;
  /** The card in a reader (see the module comment). */
  reader(card: { cardId: number; chipSerial: string | null; documentNumber: string | null }): Promise<QcReaderLease>;
  /**
   * The face as read: 'print-job' (default) reads the rendered PDF of the newest print job holding the card;
   * a function gives a station's readings; null skips face QC (FACE must then not be a required kind).
   */
  face?: 'print-job' | null | ((cardId: number) => Promise<{ faceMrz: string[] | undefined; seal: Uint8Array | undefined }>);
  policy?: QcPolicy;
  /** Station name recorded with results. Default: the reader's name. */
  station?: string;
  /** ICAO issuing state expected in DG1 (KADI_ISSUING_STATE). Default KEN. */
  issuingState?: string;
  /** Jobs at once. Default 1 per reader the caller has; here 1. */
  concurrency?: number;
  /** How long trust material (CSCAs, CRLs, seal signers) is kept before being read again, ms. Default 60 000. */
  trustTtlMs?: number;
  onResult?: (r: { cardId: number; kind: 'CHIP' | 'FACE'; passed: boolean; reasonCode: string | null; state: string; ms: number }) => void;
  onClose?: () => Promise<void>;
}

/** An EXISTS column: 1/0 on SQLite, true/false on PostgreSQL. */
const truthy = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't';

export function qcStage(o: QcStageOptions): Stage {
  let cache: { at: number; trust: QcTrust; seal: SealTrust } | undefined;
  const ttl = o.trustTtlMs ?? 60_000;
  const trust = async () => {
    if (!cache || performance.now() - cache.at > ttl) {
      const t = await loadTrust(o.db);
      cache = { at: performance.now(), trust: t, seal: await loadSealTrust(o.db, t) };
    }
    return cache;
  };
  return {
    ...stageSpec('qc'),
    concurrency: o.concurrency ?? 1,
    async run(cardId) {
      // the card and which of the kinds this stage checks have passed already (one read)
      const passedOf = (kind: 'CHIP' | 'FACE') => o.db.raw('exists (select 1 from qc_results q where q.card_id = c.id and q.passed = ? and q.kind = ?) as ??', [1, kind, `${kind.toLowerCase()}_passed`]);
      const row = await o.db('cards as c').where('c.id', cardId).first('c.state', 'c.chip_serial', 'c.document_number', passedOf('CHIP'), passedOf('FACE'));
      if (!row || row.state !== 'PRINTED') return 'skipped';
      const t = await trust();
      // a re-run (worker restarted after recording the chip result) does not read the chip twice
      const passed = new Set<string>([...(truthy(row.chip_passed) ? ['CHIP'] : []), ...(truthy(row.face_passed) ? ['FACE'] : [])]);
      const deps: QcDeps = {
        db: o.db,
        actor: o.actor,
        ...(o.station ? { station: o.station } : {}),
        trust: t.trust,
        sealTrust: t.seal,
        ...(o.policy ? { policy: o.policy } : {}),
        ...(o.issuingState ? { expectation: { issuingState: o.issuingState } } : {}),
      };
      let chipData: FaceChipData | undefined;
      if (!passed.has('CHIP')) {
        const lease = await o.reader({ cardId, chipSerial: row.chip_serial ? String(row.chip_serial) : null, documentNumber: row.document_number ? String(row.document_number) : null });
        let chip;
        const t0 = performance.now();
        try {
          chip = await runChipQc({ ...deps, station: deps.station ?? lease.name }, cardId, lease.channel);
        } finally {
          await lease.release();
        }
        o.onResult?.({ cardId, kind: 'CHIP', passed: chip.check.passed, reasonCode: chip.outcome!.reasonCode, state: chip.outcome!.state, ms: performance.now() - t0 });
        if (chip.outcome!.state === 'SPOILED') return 'spoiled';
        if (chip.outcome!.state === 'QC_PASSED') return 'done';
        deps.station ??= lease.name;
        const dgs = chip.read.dataGroups;
        chipData = { dg1: dgs.get(1)!, ...(dgs.get(11) ? { dg11: dgs.get(11)! } : {}), ...(dgs.get(13) ? { dg13: dgs.get(13)! } : {}) };
      }
      if (o.face === null || passed.has('FACE')) return 'done';
      const t1 = performance.now();
      const reading = typeof o.face === 'function' ? await o.face(cardId) : await readFaceFromPrintJob(o.db, cardId);
      // the chip just read (or, on a re-run, the prepared image chip QC already matched against the chip)
      const face = await runFaceQc(deps, cardId, reading, chipData ? { chip: chipData } : {});
      o.onResult?.({ cardId, kind: 'FACE', passed: face.check.passed, reasonCode: face.outcome!.reasonCode, state: face.outcome!.state, ms: performance.now() - t1 });
      return face.outcome!.state === 'SPOILED' ? 'spoiled' : 'done';
    },
    async close() {
      await o.onClose?.();
    },
  };
}
