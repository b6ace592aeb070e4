/**
 * Encoding one card on one encoder: the database steps around the chip sequence (sequence.ts).
 *
 * ```
 *  0. checks, nothing touched: card PREPARED (ENCODING -> crash recovery, see below; other states -> SKIPPED),
 *     Document Signer allowed to sign now.
 *  1. reset + connect (EXCLUSIVE, T=1), identify the blank (limits, CPLC)      failure -> ENCODE_BLANK_UNREADABLE
 *     — while the chip image loads (BAC secrets usable, else ENCODE_IMAGE_INVALID; the card was only read)
 *  2. claim (one transaction): blank not yet recorded, one blank consumed from a lot, card PREPARED -> ENCODING
 *     with chip serial, blank serial, lot, encoder; an encode_runs row          ENCODE_BLANK_ALREADY_RECORDED,
 *     — while SELECT eID, INITIALIZE UPDATE and EXTERNAL AUTHENTICATE travel    ENCODE_NO_BLANK_STOCK, or SKIPPED
 *     (they write nothing; a refused claim leaves the blank as it was)
 *  -- from here the blank is consumed: any failure spoils it --
 *  3. personalise (SCP03, keys derived in the HSM, AA key on card, DG15 + SOD, files, BAC secrets, lock)
 *  4. read back with BAC, compare, passive + active authentication
 *  5. record (one transaction): ENCODING -> ENCODED, run results, APDU trace, encoder counter (the reader is
 *     already free for the next blank: `onCardDone`)
 *  on failure after 2 (one transaction): ENCODING -> SPOILED with the reason code, order re-queued (new ORDERED
 *     card, or REVIEW after N attempts), run results, trace, encoder counter; result SPOILED with a typed,
 *     unrecoverable CardSpoiledError. Never a retry on the same card: a second blank would be burnt.
 * ```
 * A card found in ENCODING that no run of this process is working on was left by a worker that stopped after its
 * claim: it is spoiled with ENCODE_INTERRUPTED and its order re-queued (records.ts, recoverInterrupted).
 */
import type { Knex } from 'knex';
import {
  ApduError,
  type ApduTraceRecord,
  type BacSecrets,
  CardCommunicationError,
  CardSession,
  INS_CREATE_FILE,
  INS_EXTERNAL_AUTHENTICATE,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_ALREADY_EXISTS,
  SecureChannelError,
  type Transmitter,
} from '../chip/index.ts';
import { type DsSigningSession, checkDsPolicy } from '../keys/index.ts';
import { decodeDg1 } from '../lds/index.ts';
import { CscaStore, VerifyCache, parseCertificate, parseCrl, verifySod } from '../pki/index.ts';
import { loadChipImage } from '../prepare/index.ts';
import { KadiError, TransientError, systemClock, type Clock } from '../shared/index.ts';
import { CardSpoiledError, EncodeCode, EncodeError, SpoilReason } from './errors.ts';
import { claimBlank, recordEncoded, recordLost, recordSpoiled, recoverInterrupted, type RunStats } from './records.ts';
import {
  type CardIdentity,
  type CardLimits,
  LDS_FILES,
  type LdsFile,
  type Scp03SessionKeySource,
  type SodVerifier,
  dataGroupFile,
  identifyCard,
  minimumPlan,
  openPersonalisation,
  personalise,
  readBack,
} from './sequence.ts';

/** A reader to encode on: the channel and the encoder's identity. */
export interface EncoderSlot {
  name: string;
  /** Row id in `encoders` (registerEncoder). */
  id: number;
  channel: Transmitter & {
    reset(): Promise<void>;
    readonly atr: Uint8Array | undefined;
    readonly stats: { transportMs: number };
  };
}

/** What the encode step needs, built once per worker. */
export interface EncodeDeps {
  db: Knex;
  /** SCP03 session keys from the HSM (src/hsm HsmCardKeys). */
  keys: Scp03SessionKeySource;
  /** The current Document Signer (src/keys currentDsSigner): signs EF.SOD, gives the CSCA and CRL for the check. */
  signer: DsSigningSession;
  actor: string;
  clock?: Clock;
  /** SCP03 security level. Default 0x33 (C-MAC, C-DEC, R-MAC, R-ENC). */
  securityLevel?: number;
  /** Blank lot loaded in the encoders (lot number). Default: the oldest lot with stock. */
  lot?: string;
  /** Cards per order before it goes to REVIEW. Default 3. */
  maxAttempts?: number;
  /** Card limits per ATR (filled as cards are seen); share one map between encoders. */
  limitsCache?: Map<string, CardLimits>;
}

export type EncodeOutcome = 'ENCODED' | 'SPOILED' | 'SKIPPED' | 'LOST';

export interface EncodeResult {
  cardId: number;
  outcome: EncodeOutcome;
  /** SKIPPED: the state the card was found in. */
  state?: string;
  /** SPOILED: the reason code; error: the typed error. */
  reason?: SpoilReason;
  error?: KadiError;
  replacementCardId?: number | null;
  orderStatus?: string;
  runId?: number;
  chipSerial?: string;
  blankSerial?: string;
  lot?: string;
  securityLevel?: number;
  stats?: RunStats;
  /** Where the card's time went, ms: wall time per phase (APDU round trips included in the card phases). */
  timings?: EncodeTimings;
  trace: ApduTraceRecord[];
}

/** Wall time per phase of one card, ms. `transport` is the part of the card phases spent inside SCardTransmit /
 *  SCardConnect; `hsm` the part of personalise spent in the HSM (key derivation, SOD signature). */
export interface EncodeTimings {
  prepare: number;
  identify: number;
  claim: number;
  personalise: number;
  hsm: number;
  readBack: number;
  verify: number;
  record: number;
  total: number;
  transport: number;
  /** Per phase, the wall time not spent in the card exchange (transport excluded), ms: where software time goes. */
  software: Record<Phase, number>;
}

type Phase = 'prepare' | 'identify' | 'claim' | 'personalise' | 'readBack' | 'record';

/** Cards being encoded by this process (a re-run for one of them is not a crash). */
const inFlight = new Set<number>();

/** Whether this process is encoding `cardId` right now. */
export function isEncoding(cardId: number): boolean {
  return inFlight.has(cardId);
}

interface PreparedCard {
  files: LdsFile[];
  dataGroups: Map<number, Uint8Array>;
  bac: BacSecrets;
  fileSizes: number[];
}

async function prepareInput(db: Knex, cardId: number): Promise<PreparedCard> {
  let image;
  try {
    image = await loadChipImage(db, cardId);
  } catch (e) {
    throw new EncodeError(EncodeCode.IMAGE_INVALID, `card ${cardId} has no usable chip image`, { cause: e, details: { cardId } });
  }
  const dg1 = image.dataGroups.get(1);
  let bac: BacSecrets;
  try {
    const mrz = decodeDg1(dg1!).parsed;
    bac = { documentNumber: mrz.documentNumber, dateOfBirth: mrz.dateOfBirth, dateOfExpiry: mrz.dateOfExpiry };
  } catch (e) {
    throw new EncodeError(EncodeCode.IMAGE_INVALID, `card ${cardId}: DG1 does not hold a readable MRZ`, { cause: e, details: { cardId } });
  }
  if (!/^\d{6}$/.test(bac.dateOfBirth) || !/^\d{6}$/.test(bac.dateOfExpiry) || !/^[0-9A-Z]{1,22}$/.test(bac.documentNumber)) {
    throw new EncodeError(EncodeCode.IMAGE_INVALID, `card ${cardId}: the MRZ fields cannot serve as BAC secrets (unknown date parts?)`, { details: { cardId } });
  }
  const files: LdsFile[] = [{ name: 'EF.COM', ...LDS_FILES['EF.COM']!, bytes: image.com }];
  const dataGroups = new Map<number, Uint8Array>();
  for (const n of [...image.dataGroups.keys()].sort((a, b) => a - b)) {
    const bytes = image.dataGroups.get(n)!;
    dataGroups.set(n, bytes);
    files.push({ name: `DG${n}`, ...dataGroupFile(n), bytes });
  }
  return { files, dataGroups, bac, fileSizes: files.map((f) => f.bytes.length) };
}

const verifiers = new WeakMap<DsSigningSession, SodVerifier>();

/**
 * The SOD check of the read-back: passive authentication against the CSCA and CRL of the signing session. One
 * verifier per signing session (shared by every card and encoder of the process): the CSCA store is built and the
 * CRL parsed once (again when the session's CSCA or CRL changes, after `refresh()`), and the byte-only steps — DS
 * certificate signature under the CSCA, CRL signature, public key imports — are memoised in a {@link VerifyCache}
 * keyed by the bytes as read from the chip. Every card still gets the whole check: its CMS signature, message
 * digest, data group hashes, the DS certificate's validity and its revocation status in the current CRL.
 */
export function sodVerifierFor(signer: DsSigningSession): SodVerifier {
  const have = verifiers.get(signer);
  if (have) return have;
  const cache = new VerifyCache();
  let cscaDer: Uint8Array | undefined;
  let cscas: CscaStore | undefined;
  let crlDer: Uint8Array | undefined;
  let crl: ReturnType<typeof parseCrl> | undefined;
  const verifier: SodVerifier = (sod, dataGroups) => {
    if (cscaDer !== signer.csca.certificate || !cscas) {
      cscaDer = signer.csca.certificate;
      cscas = new CscaStore([parseCertificate(cscaDer)]);
    }
    if (crlDer !== signer.crl.der) {
      crlDer = signer.crl.der;
      crl = parseCrl(crlDer);
    }
    const r = verifySod(sod, { cscas, crls: crl ? [crl] : [], dataGroups, cache });
    const missing = [...dataGroups.keys()].filter((n) => r.dgMatches[String(n)] !== true);
    return { valid: r.valid && missing.length === 0, errors: [...r.errors.map((e) => e.code), ...missing.map((n) => `DG${n}_NOT_CHECKED`)] };
  };
  verifiers.set(signer, verifier);
  return verifier;
}

/** Maps what went wrong after the claim to the spoil reason code. */
export function spoilReasonOf(e: unknown): SpoilReason {
  if (e instanceof CardSpoiledError) return e.reason;
  if (e instanceof CardCommunicationError) {
    if (e.reason === 'CARD_REMOVED') return SpoilReason.CARD_REMOVED;
    if (e.reason === 'CARD_RESPONSE_MALFORMED') return SpoilReason.RESPONSE_MALFORMED;
    return SpoilReason.TRANSPORT_FAILED;
  }
  if (e instanceof SecureChannelError) {
    return e.reason === 'CARD_CRYPTOGRAM_INVALID' ? SpoilReason.CARD_KEYS_WRONG : SpoilReason.SECURE_CHANNEL_FAILED;
  }
  if (e instanceof ApduError) {
    const ins = e.command?.ins;
    if (ins === INS_EXTERNAL_AUTHENTICATE && ((e.command?.cla ?? 0) & 0x80) !== 0) return SpoilReason.CARD_KEYS_WRONG;
    if (ins === INS_CREATE_FILE && e.sw === SW_FILE_ALREADY_EXISTS) return SpoilReason.CARD_NOT_BLANK;
    if (e.sw === SW_CONDITIONS_NOT_SATISFIED) return SpoilReason.CARD_LOCKED;
    return SpoilReason.CARD_REJECTED;
  }
  return SpoilReason.FAILED;
}

function errorRecord(e: unknown): Record<string, unknown> {
  if (e instanceof KadiError) return { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) };
  return { code: 'ERROR', message: (e as Error)?.message?.slice(0, 200) ?? String(e) };
}

/**
 * Encodes `cardId` on the card in `slot` (see the module comment). Returns the outcome; throws only when the card
 * was left untouched (EncodeError: no claim was made) or on an infrastructure failure before the claim.
 */
export async function encodeCard(deps: EncodeDeps, slot: EncoderSlot, cardId: number, opts: EncodeCardOptions = {}): Promise<EncodeResult> {
  if (inFlight.has(cardId)) return { cardId, outcome: 'SKIPPED', state: 'ENCODING', trace: [] };
  inFlight.add(cardId);
  try {
    return await encodeUnguarded(deps, slot, cardId, opts);
  } finally {
    inFlight.delete(cardId);
  }
}

/** Per-call options of {@link encodeCard}. */
export interface EncodeCardOptions {
  /**
   * Called once the card needs the reader no more (after its last APDU, before the result is written to the
   * database), so the reader can take the next blank while the result is recorded. Not called when the card
   * was not claimed.
   */
  onCardDone?: () => void;
}

async function encodeUnguarded(deps: EncodeDeps, slot: EncoderSlot, cardId: number, opts: EncodeCardOptions): Promise<EncodeResult> {
  const clock = deps.clock ?? systemClock;
  const level = deps.securityLevel ?? 0x33;
  const t0 = performance.now();
  const timings: EncodeTimings = {
    prepare: 0,
    identify: 0,
    claim: 0,
    personalise: 0,
    hsm: 0,
    readBack: 0,
    verify: 0,
    record: 0,
    total: 0,
    transport: 0,
    software: { prepare: 0, identify: 0, claim: 0, personalise: 0, readBack: 0, record: 0 },
  };
  let mark = t0;
  let resetMs = 0;
  let txMark = slot.channel.stats.transportMs;
  const lap = (phase: Phase): void => {
    const now = performance.now();
    const tx = slot.channel.stats.transportMs + resetMs;
    timings[phase] += now - mark;
    timings.software[phase] += now - mark - (tx - txMark);
    mark = now;
    txMark = tx;
  };
  let doneCalled = false;
  const cardDone = (): void => {
    if (doneCalled) return;
    doneCalled = true;
    opts.onCardDone?.();
  };
  const row = await deps.db('cards').where({ id: cardId }).first('state');
  if (!row) throw new EncodeError(EncodeCode.IMAGE_INVALID, `card ${cardId} does not exist`, { details: { cardId } });
  if (row.state === 'ENCODING') {
    const res = await recoverInterrupted(deps.db, cardId, deps.actor, { ...(deps.maxAttempts !== undefined ? { maxAttempts: deps.maxAttempts } : {}), at: clock.now() });
    if (!res) return { cardId, outcome: 'SKIPPED', state: 'ENCODING', trace: [] };
    return {
      cardId,
      outcome: 'SPOILED',
      reason: SpoilReason.INTERRUPTED,
      error: new CardSpoiledError(SpoilReason.INTERRUPTED, `card ${cardId} was left in ENCODING by a worker that stopped; its blank is spoiled`, { details: { cardId } }),
      replacementCardId: res.replacementCardId,
      orderStatus: res.orderStatus,
      trace: [],
    };
  }
  if (row.state !== 'PREPARED') return { cardId, outcome: 'SKIPPED', state: String(row.state), trace: [] };

  try {
    checkDsPolicy(deps.signer.ds, deps.signer.crl, clock.now());
  } catch (e) {
    throw new EncodeError(EncodeCode.SIGNER_UNAVAILABLE, `the Document Signer cannot sign now: ${(e as Error).message}`, { cause: e });
  }

  lap('prepare');

  // 1. identify (nothing written; a failure here leaves the card untouched). The chip image is loaded from the
  //    database while the reader resets the card and the identifying APDUs travel (SCardTransmit runs on the libuv
  //    pool; the main thread is free in between). An unusable image is reported first: the card was only read.
  const transport0 = slot.channel.stats.transportMs;
  const trace: ApduTraceRecord[] = [];
  const session = new CardSession(slot.channel, { onTrace: (r) => trace.push(r) });
  const r0 = performance.now();
  const identifying = (async (): Promise<CardIdentity> => {
    await slot.channel.reset();
    resetMs = performance.now() - r0;
    return identifyCard(session, { ...(slot.channel.atr ? { atr: slot.channel.atr } : {}), ...(deps.limitsCache ? { limitsCache: deps.limitsCache } : {}) });
  })();
  const [prepared, identified] = await Promise.allSettled([prepareInput(deps.db, cardId), identifying]);
  if (prepared.status === 'rejected') throw prepared.reason;
  const input: PreparedCard = prepared.value;
  if (identified.status === 'rejected') {
    const e = identified.reason as unknown;
    throw new EncodeError(EncodeCode.BLANK_UNREADABLE, `the blank in reader "${slot.name}" cannot be identified: ${(e as Error).message}`, {
      cause: e,
      retryable: true,
      hint: 'Reject the card; the order keeps its card and takes the next blank.',
      details: { reader: slot.name, ...(e instanceof KadiError ? { cause: e.code } : {}) },
    });
  }
  const identity: CardIdentity = identified.value;
  lap('identify');

  // 2. claim, while the first steps that write nothing travel (SELECT eID, INITIALIZE UPDATE, EXTERNAL
  //    AUTHENTICATE): the database transaction and the card exchanges overlap.
  const claiming = claimBlank(deps.db, {
    cardId,
    encoderId: slot.id,
    encoderName: slot.name,
    chipSerial: identity.chipSerial,
    blankSerial: identity.blankSerial,
    ...(deps.lot !== undefined ? { lot: deps.lot } : {}),
    securityLevel: level,
    actor: deps.actor,
    at: clock.now(),
  });
  const opening = identity.personalised
    ? Promise.reject(
        new CardSpoiledError(SpoilReason.CARD_LOCKED, 'the CPLC of this blank carries a personalisation stamp: it is a finished card', {
          details: { chipSerial: identity.chipSerial },
        }),
      )
    : openPersonalisation(session, identity, deps.keys, level);
  const [claimed, opened] = await Promise.allSettled([claiming, opening]);
  if (claimed.status === 'rejected') {
    // the transaction rolled back and nothing was written to the blank: the card is untouched
    const e = claimed.reason as unknown;
    if (e instanceof KadiError) throw e;
    throw new TransientError('ENCODE_CLAIM_FAILED', `the blank could not be claimed for card ${cardId}: ${(e as Error)?.message ?? String(e)}`, { cause: e, details: { cardId } });
  }
  const claim = claimed.value;
  if (!claim.claimed) return { cardId, outcome: 'SKIPPED', state: claim.state, trace };
  lap('claim');

  const base = { cardId, runId: claim.runId, chipSerial: identity.chipSerial, blankSerial: identity.blankSerial, lot: claim.lotNumber, securityLevel: level };
  let signedSizes: number[] = [];
  const stats = (): RunStats => {
    const s = session.stats;
    const cardMs = performance.now() - t0;
    const transportMs = slot.channel.stats.transportMs - transport0 + resetMs;
    timings.total = cardMs;
    timings.transport = transportMs;
    const m = minimumPlan([...input.fileSizes, ...signedSizes], identity.limits);
    return {
      apdus: s.commands,
      exchanges: s.exchanges,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      minApdus: m.apdus,
      minBytes: m.bytes,
      cardMs,
      transportMs,
      softwareMs: cardMs - transportMs,
    };
  };

  /** Card and software time once the result is recorded (the stored run has them up to just before). */
  const final = (): Pick<RunStats, 'cardMs' | 'softwareMs'> => {
    const cardMs = performance.now() - t0;
    timings.total = cardMs;
    return { cardMs, softwareMs: cardMs - timings.transport };
  };

  // 3.-5. everything after the claim spoils the blank on failure
  try {
    if (opened.status === 'rejected') throw opened.reason;
    const perso = await personalise(session, identity, { files: input.files, dataGroups: input.dataGroups, bac: input.bac, securityLevel: level, opened: opened.value }, {
      keys: deps.keys,
      signSod: (dgs) => deps.signer.signSod(dgs),
      onSigned: ({ sod, dg15 }) => {
        signedSizes = [dg15.length, sod.length];
      },
    });
    timings.hsm = perso.hsmMs;
    lap('personalise');
    const verifier = sodVerifierFor(deps.signer);
    await readBack(session, perso.files, input.bac, (sod, dgs) => {
      const v0 = performance.now();
      try {
        return verifier(sod, dgs);
      } finally {
        timings.verify += performance.now() - v0;
      }
    }, { aaKey: { spki: perso.aaPublicKey, key: perso.aaKey } });
    lap('readBack');
    const s = stats();
    cardDone();
    try {
      await recordEncoded(deps.db, { runId: claim.runId, cardId, encoderId: slot.id, stats: s, trace, actor: deps.actor, at: clock.now() });
      lap('record');
      Object.assign(s, final());
    } catch (e) {
      if ((e as KadiError)?.code !== 'CARD_STATE_CONFLICT') throw e;
      const err = new EncodeError(EncodeCode.LOST_RACE, `card ${cardId} was changed by someone else while this encoder personalised it; the blank must be destroyed`, {
        cause: e,
        details: { cardId, chipSerial: identity.chipSerial },
      });
      await recordLost(deps.db, { runId: claim.runId, cardId, encoderId: slot.id, stats: s, trace, actor: deps.actor, error: errorRecord(err) });
      return { ...base, outcome: 'LOST', error: err, stats: s, trace };
    }
    return { ...base, outcome: 'ENCODED', stats: s, timings, trace };
  } catch (e) {
    const reason = spoilReasonOf(e);
    const err =
      e instanceof CardSpoiledError
        ? e
        : new CardSpoiledError(reason, `card ${cardId} spoiled on reader "${slot.name}": ${(e as Error)?.message ?? String(e)}`, {
            cause: e,
            details: { cardId, reader: slot.name, ...(e instanceof KadiError ? { cause: e.code, ...(e.details ?? {}) } : {}) },
          });
    const s = stats();
    cardDone();
    const res = await recordSpoiled(deps.db, {
      runId: claim.runId,
      cardId,
      encoderId: slot.id,
      reason,
      error: errorRecord(e),
      stats: s,
      trace,
      actor: deps.actor,
      at: clock.now(),
      ...(deps.maxAttempts !== undefined ? { maxAttempts: deps.maxAttempts } : {}),
    });
    lap('record');
    Object.assign(s, final());
    return { ...base, outcome: 'SPOILED', reason, error: err, replacementCardId: res.replacementCardId, orderStatus: res.orderStatus, stats: s, timings, trace };
  }
}
