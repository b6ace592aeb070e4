/**
 * `kadi encode`: personalise prepared cards onto the blanks in the PC/SC card encoders, with progress; and
 * `kadi gp-master-key`: the card master key ceremony (generate in the HSM, import once, show its check value).
 *
 * ```
 * kadi encode (--reader NAME... | --all) [--count N] [--batch ID] [--lot LOT] [--level 33|03] [--wait SECONDS]
 *             [--master-key LABEL] [--json]
 * kadi gp-master-key generate [--label LABEL] [--bits 128|256]
 * kadi gp-master-key import --file FILE [--label LABEL]       (32/48/64 hex digits, or 16/24/32 raw bytes)
 * kadi gp-master-key show [--label LABEL]
 * ```
 * Each reader encodes the blank it holds, one card at a time; with --wait it waits that long for the next blank
 * after each card (a blank counts as new once the reader has seen the previous card removed). Cards are the
 * PREPARED cards (of --batch, if given), oldest first. A spoiled blank is reported with its reason code and the
 * replacement card of its order; a blank rejected before its claim (unreadable, already recorded) leaves the card
 * for the next blank. Exit 0 when the run ends normally (spoils are production outcomes, listed); 1 when it stops on
 * an error (no blank stock, Document Signer unavailable, HSM).
 *
 * PC/SC: PCSCLITE_CSOCK_NAME when set; otherwise the socket of `$KADI_HOME/pcsc/env` when that pcscd runs (the
 * virtual encoders of `scripts/services.sh`); otherwise the system pcscd.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Knex } from 'knex';
import {
  type CardLimits,
  type EncodeResult,
  type Encoder,
  EncodeCode,
  EncodeError,
  ReaderPool,
  encodeCard,
  registerEncoder,
} from '../encoders/index.ts';
import { HsmCardKeys, cardMasterKeyInfo, generateCardMasterKey, importCardMasterKey } from '../hsm/index.ts';
import { currentDsSigner } from '../keys/index.ts';
import { type Stage, encodeStage } from '../pipeline/index.ts';
import { type KadiError, ValidationError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { openHsm } from './keys.ts';
import { printJson, printLine, progress } from './output.ts';
import { appendAudit } from '../audit/index.ts';

type WithContext = (json: boolean, body: (ctx: Context) => Promise<number | void>) => Promise<void>;

/** Default label of the card master key in the token. */
export const DEFAULT_MASTER_KEY_LABEL = 'kadi-gp-master';

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function levelArg(v: string): number {
  const n = parseInt(v, 16);
  if (![0x03, 0x13, 0x33].includes(n)) throw new InvalidArgumentError('SCP03 security level must be 33, 13 or 03 (hex)');
  return n;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** PCSCLITE_CSOCK_NAME from `$KADI_HOME/pcsc/env` when it is not set and that pcscd's socket exists. */
export function usePcscOfHome(home: string): void {
  if (process.env.PCSCLITE_CSOCK_NAME) return;
  const env = path.join(home, 'pcsc', 'env');
  if (!existsSync(env)) return;
  const m = /^PCSCLITE_CSOCK_NAME=(.+)$/m.exec(readFileSync(env, 'utf8'));
  if (m && existsSync(m[1]!.trim())) process.env.PCSCLITE_CSOCK_NAME = m[1]!.trim();
}

interface EncodeOptions {
  reader: string[];
  all?: boolean;
  count?: number;
  batch?: number;
  lot?: string;
  level: number;
  wait: number;
  masterKey: string;
  json?: boolean;
}

interface RunSummary {
  encoded: number;
  spoiled: number;
  rejected: number;
  skipped: number;
  spoiledBy: Record<string, number>;
  results: Array<Record<string, unknown>>;
}

function line(r: EncodeResult, reader: string): Record<string, unknown> {
  return {
    cardId: r.cardId,
    outcome: r.outcome,
    reader,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
    ...(r.replacementCardId !== undefined ? { replacementCardId: r.replacementCardId } : {}),
    ...(r.orderStatus ? { orderStatus: r.orderStatus } : {}),
    ...(r.chipSerial ? { chipSerial: r.chipSerial } : {}),
    ...(r.lot ? { lot: r.lot } : {}),
    ...(r.stats ? { apdus: r.stats.apdus, minApdus: r.stats.minApdus, ms: Math.round(r.stats.cardMs) } : {}),
  };
}

async function runEncode(ctx: Context, o: EncodeOptions, actor: string): Promise<number> {
  if (!o.all && o.reader.length === 0) throw new ValidationError('ENCODE_USAGE', 'name the readers to use (--reader NAME, repeatable) or --all');
  usePcscOfHome(ctx.config.home);
  const db: Knex = await ctx.db();
  const available = await ReaderPool.listReaders();
  const names = o.all ? available : o.reader;
  for (const n of names) {
    if (!available.includes(n)) {
      throw new ValidationError('ENCODE_READER_NOT_FOUND', `no PC/SC reader named "${n}"`, { hint: `Readers: ${available.join(', ') || 'none'}`, details: { reader: n } });
    }
  }
  if (names.length === 0) throw new EncodeError(EncodeCode.NO_BLANK, 'no PC/SC reader is connected', { hint: 'Start pcscd (kadi services start pcscd) and the virtual cards (kadi cards start).' });

  const queue = (
    (await db('cards')
      .where({ state: 'PREPARED' })
      .modify((q) => {
        if (o.batch !== undefined) q.where({ batch_id: o.batch });
      })
      .orderBy('id')
      .limit(o.count ?? 1_000_000)
      .select('id')) as Array<{ id: number }>
  ).map((r) => r.id);
  const total = Math.min(o.count ?? queue.length, queue.length);
  if (total === 0) {
    if (o.json) printJson({ encoded: 0, spoiled: 0, rejected: 0, skipped: 0, results: [] });
    else printLine('no PREPARED card to encode');
    return 0;
  }

  const hsm = openHsm(ctx.config, { sessions: Math.min(8, names.length + 1) });
  let pool: ReaderPool | undefined;
  const signer = await currentDsSigner({ db, keyStore: hsm, actor }).catch(async (e: unknown) => {
    await hsm.close();
    throw e;
  });
  const bar = progress(!!o.json);
  const summary: RunSummary = { encoded: 0, spoiled: 0, rejected: 0, skipped: 0, spoiledBy: {}, results: [] };
  try {
    const keys = new HsmCardKeys(hsm, o.masterKey);
    await keys.open();
    pool = await ReaderPool.open({ readers: names });
    const ids = new Map<string, number>();
    for (const n of names) ids.set(n, await registerEncoder(db, n));
    const deps = { db, keys, signer, actor, securityLevel: o.level, ...(o.lot ? { lot: o.lot } : {}), limitsCache: new Map<string, CardLimits>() };
    let started = 0;
    let fatal: unknown;
    bar.start(total, 'encode');
    const report = (r: EncodeResult, reader: string): void => {
      summary.results.push(line(r, reader));
      if (r.outcome === 'ENCODED') summary.encoded++;
      else if (r.outcome === 'SPOILED' || r.outcome === 'LOST') {
        summary.spoiled++;
        const reason = r.reason ?? 'ENCODE_LOST_RACE';
        summary.spoiledBy[reason] = (summary.spoiledBy[reason] ?? 0) + 1;
      } else summary.skipped++;
      bar.update(summary.encoded + summary.spoiled + summary.skipped);
      if (o.json) return;
      const s = r.stats ? ` (${r.stats.apdus} APDUs, ${Math.round(r.stats.cardMs)} ms)` : '';
      if (r.outcome === 'ENCODED') printLine(`card ${r.cardId} ENCODED on ${reader}: chip ${r.chipSerial}, lot ${r.lot}${s}`);
      else if (r.outcome === 'SPOILED' || r.outcome === 'LOST') {
        const next = r.replacementCardId ? `replacement card ${r.replacementCardId}` : `order ${r.orderStatus === 'REVIEW' ? 'sent to REVIEW' : 'not re-queued'}`;
        printLine(`card ${r.cardId} SPOILED on ${reader}: ${r.reason ?? r.error?.code} — ${r.error?.message ?? ''}; ${next}${s}`);
      } else printLine(`card ${r.cardId} skipped (${r.state})`);
    };
    const worker = async (enc: Encoder): Promise<void> => {
      while (fatal === undefined && started < total) {
        let e: Encoder;
        try {
          e = await pool!.acquire({ reader: enc.name, timeoutMs: o.wait * 1000 });
        } catch {
          return; // no (further) blank in this reader
        }
        const cardId = queue.shift();
        if (cardId === undefined) {
          pool!.release(e, { fresh: true });
          return;
        }
        started++;
        let fresh = false;
        try {
          const r = await encodeCard(deps, { name: e.name, id: ids.get(e.name)!, channel: e.channel }, cardId);
          fresh = r.outcome === 'SKIPPED' && r.runId === undefined;
          report(r, e.name);
        } catch (err) {
          const code = (err as KadiError)?.code;
          if (code === EncodeCode.BLANK_UNREADABLE || code === EncodeCode.BLANK_ALREADY_RECORDED) {
            // the blank is rejected; the card waits for the next blank
            summary.rejected++;
            started--;
            queue.unshift(cardId);
            summary.results.push({ cardId, outcome: 'REJECTED_BLANK', reader: e.name, error: { code, message: (err as Error).message } });
            if (!o.json) printLine(`blank in ${e.name} rejected: ${code} — ${(err as Error).message}`);
          } else if (code === EncodeCode.IMAGE_INVALID) {
            summary.skipped++;
            summary.results.push({ cardId, outcome: 'SKIPPED', reader: e.name, error: { code, message: (err as Error).message } });
            if (!o.json) printLine(`card ${cardId} skipped: ${(err as Error).message}`);
            fresh = true;
          } else {
            fatal ??= err;
            fresh = true;
          }
        } finally {
          pool!.release(e, { fresh });
        }
      }
    };
    await Promise.all(pool.encoders.map((enc) => worker(enc)));
    bar.stop();
    await db.transaction((trx) =>
      appendAudit(trx, { actor, action: 'encode.run', entityType: 'encoder', entityId: names.length === 1 ? names[0]! : `${names.length} readers`, data: { encoded: summary.encoded, spoiled: summary.spoiled, rejected: summary.rejected, spoiledBy: summary.spoiledBy, masterKey: o.masterKey, keyDerivations: keys.count } }),
    );
    if (fatal !== undefined) throw fatal;
    if (o.json) printJson(summary);
    else {
      const by = Object.entries(summary.spoiledBy).map(([k, v]) => `${k} ${v}`).join(', ');
      printLine(`encoded ${summary.encoded}, spoiled ${summary.spoiled}${by ? ` (${by})` : ''}, blanks rejected ${summary.rejected}, skipped ${summary.skipped}`);
      if (summary.encoded + summary.spoiled < total) printLine(`${total - summary.encoded - summary.spoiled} card(s) left PREPARED: no fresh blank in the readers`);
    }
    return 0;
  } finally {
    bar.stop();
    await pool?.close();
    await signer.close();
    await hsm.close();
  }
}

export interface EncodeStageConfig {
  /** Reader names (default: every reader pcscd offers). */
  readers?: string[];
  masterKey?: string;
  lot?: string;
  securityLevel?: number;
  /** Jobs at once (default: one per reader). */
  concurrency?: number;
  /** How long a job waits for a fresh blank, ms (default 30 000). */
  blankWaitMs?: number;
}

/**
 * The encode stage for `kadi workers start`: opens the reader pool, the HSM (card master key, Document Signer) and
 * the signing session; `stage.close()` closes them again. For `buildStages` in cli/pipeline.ts.
 */
export async function buildEncodeStage(ctx: Context, db: Knex, actor: string, o: EncodeStageConfig = {}): Promise<Stage> {
  usePcscOfHome(ctx.config.home);
  const readers = o.readers ?? (await ReaderPool.listReaders());
  if (readers.length === 0) throw new EncodeError(EncodeCode.NO_BLANK, 'no PC/SC reader is connected: the encode stage needs at least one');
  const hsm = openHsm(ctx.config, { sessions: Math.min(8, readers.length + 1) });
  try {
    const keys = new HsmCardKeys(hsm, o.masterKey ?? DEFAULT_MASTER_KEY_LABEL);
    await keys.open();
    const signer = await currentDsSigner({ db, keyStore: hsm, actor });
    const pool = await ReaderPool.open({ readers });
    return encodeStage({
      pool,
      deps: { db, keys, signer, actor, limitsCache: new Map(), ...(o.lot ? { lot: o.lot } : {}), ...(o.securityLevel ? { securityLevel: o.securityLevel } : {}) },
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.blankWaitMs !== undefined ? { blankWaitMs: o.blankWaitMs } : {}),
      onClose: async () => {
        await signer.close();
        await hsm.close();
      },
    });
  } catch (e) {
    await hsm.close();
    throw e;
  }
}

function readMasterFile(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new ValidationError('GP_MASTER_KEY_FILE_UNREADABLE', `cannot read the key file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { details: { file } });
  }
  const text = raw.toString('latin1').trim();
  if (/^[0-9a-fA-F]+$/.test(text) && [32, 48, 64].includes(text.length)) return new Uint8Array(Buffer.from(text, 'hex'));
  if ([16, 24, 32].includes(raw.length)) return new Uint8Array(raw);
  throw new ValidationError('GP_MASTER_KEY_INVALID', `${file} holds neither 32/48/64 hex digits nor 16/24/32 bytes`, { details: { file } });
}

/** Registers `kadi encode` and `kadi gp-master-key`. */
export function registerEncodeCommand(program: Command, withContext: WithContext, actor: () => string): void {
  program
    .command('encode')
    .description('personalise PREPARED cards onto the blanks in the card encoders (PC/SC), with progress')
    .option('--reader <name>', 'PC/SC reader to use (repeatable)', collect, [])
    .option('--all', 'use every PC/SC reader')
    .option('--count <n>', 'encode at most N cards', intArg('--count', 1, 10_000_000))
    .option('--batch <id>', 'only cards of this batch', intArg('--batch', 1, Number.MAX_SAFE_INTEGER))
    .option('--lot <lot>', 'blank lot loaded in the encoders (default: oldest lot with stock)')
    .addOption(new Option('--level <hex>', 'SCP03 security level: 33 (C-MAC, C-DEC, R-MAC, R-ENC), 13 or 03').argParser(levelArg).default(0x33, '33'))
    .option('--wait <seconds>', 'how long each reader waits for its next blank (0: only blanks present now)', intArg('--wait', 0, 86_400), 0)
    .option('--master-key <label>', 'label of the card master key in the HSM', DEFAULT_MASTER_KEY_LABEL)
    .option('--json', 'JSON output')
    .action(async (o: EncodeOptions) => withContext(!!o.json, (ctx) => runEncode(ctx, o, actor())));

  const gp = program.command('gp-master-key').description('key custodian: the card master key (SCP03 per-card keys are derived from it in the HSM)');
  gp.command('generate')
    .description('generate the card master key in the HSM (never extractable)')
    .option('--label <label>', 'key label', DEFAULT_MASTER_KEY_LABEL)
    .option('--bits <n>', 'AES key size: 128 or 256', (v) => {
      if (v !== '128' && v !== '256') throw new InvalidArgumentError('must be 128 or 256');
      return Number(v) as 128 | 256;
    }, 256 as 128 | 256)
    .option('--json', 'JSON output')
    .action(async (o: { label: string; bits: 128 | 256; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const hsm = openHsm(ctx.config);
        try {
          const info = await generateCardMasterKey(hsm, o.label, o.bits);
          const db = await ctx.db();
          await db.transaction((trx) => appendAudit(trx, { actor: actor(), action: 'key.generate', entityType: 'key', entityId: o.label, data: { kind: 'GP_MASTER', bits: info.bits, kcv: info.checkValue, token: 'hsm' } }));
          if (o.json) printJson(info);
          else printLine(`card master key "${info.label}" generated in the HSM: AES-${info.bits}, check value ${info.checkValue}`);
        } finally {
          await hsm.close();
        }
      }),
    );
  gp.command('import')
    .description('import the card master key once, at a key ceremony (the card vendor loads the same key)')
    .requiredOption('--file <file>', 'file with the key: 32/48/64 hex digits or 16/24/32 bytes (destroy it afterwards)')
    .option('--label <label>', 'key label', DEFAULT_MASTER_KEY_LABEL)
    .option('--json', 'JSON output')
    .action(async (o: { file: string; label: string; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const key = readMasterFile(o.file);
        const hsm = openHsm(ctx.config);
        try {
          const info = await importCardMasterKey(hsm, o.label, key);
          key.fill(0);
          const db = await ctx.db();
          await db.transaction((trx) => appendAudit(trx, { actor: actor(), action: 'key.import', entityType: 'key', entityId: o.label, data: { kind: 'GP_MASTER', bits: info.bits, kcv: info.checkValue, token: 'hsm' } }));
          if (o.json) printJson(info);
          else printLine(`card master key "${info.label}" imported into the HSM: AES-${info.bits}, check value ${info.checkValue}`);
        } finally {
          await hsm.close();
        }
      }),
    );
  gp.command('show')
    .description('the card master key\'s attributes and check value (never its value)')
    .option('--label <label>', 'key label', DEFAULT_MASTER_KEY_LABEL)
    .option('--json', 'JSON output')
    .action(async (o: { label: string; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const hsm = openHsm(ctx.config);
        try {
          const info = await cardMasterKeyInfo(hsm, o.label);
          if (o.json) printJson(info);
          else printLine(`${info.label}: AES-${info.bits}, check value ${info.checkValue}, sensitive ${info.sensitive}, extractable ${info.extractable}, derive-only ${info.derive && !info.encrypt && !info.sign && !info.wrap}`);
        } finally {
          await hsm.close();
        }
      }),
    );
}

