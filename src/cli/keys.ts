/**
 * `kadi keys ...`: the key custodian's commands (key ceremony, DS rotation, listing, CSCA export, CRLs).
 * Each command opens the HSM from the configuration (module, token, PIN file; SOFTHSM2_CONF for SoftHSM) and the
 * database, does the work through src/keys, prints text or `--json`, and closes both in `finally`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
import { type KadiConfig, readHsmPin } from '../config/index.ts';
import { Pkcs11Hsm } from '../hsm/index.ts';
import {
  type CeremonyDefinition,
  type KeyRecord,
  KeysCode,
  KeysError,
  ceremony,
  crlPem,
  exportCsca,
  issueCrl,
  listKeys,
  parseCeremonyDefinition,
  rotateDs,
} from '../keys/index.ts';
import { type KeyAlgorithm, KEY_ALGORITHMS, isKeyAlgorithm } from '../pki/index.ts';
import { KadiError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { type CommandBody, withContext } from './run.ts';
import { printJson, printLine, table } from './output.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The ceremony definition used when --definition is not given. */
export const DEFAULT_DEFINITION = path.join(ROOT, 'hsm', 'ceremony.json');

/** Opens the PKCS#11 adapter from the configuration. SoftHSM reads SOFTHSM2_CONF at C_Initialize. */
export function openHsm(cfg: KadiConfig, opts: { sessions?: number } = {}): Pkcs11Hsm {
  process.env.SOFTHSM2_CONF = cfg.hsm.softhsmConf;
  return Pkcs11Hsm.open({ module: cfg.hsm.module, token: cfg.hsm.token, pin: readHsmPin(cfg), sessions: opts.sessions ?? 1 });
}

/** Runs a command body with a Context (and whatever it opens); see src/cli/run.ts. */
export async function runWith(ctx: () => Context, json: boolean, body: CommandBody): Promise<void> {
  return withContext(json, body, ctx);
}

export function loadDefinition(file: string): CeremonyDefinition {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KeysError(KeysCode.DEFINITION_INVALID, `cannot read the ceremony definition ${file} (${(e as Error).message.split('\n')[0]})`, {
      hint: 'Pass --definition FILE, or restore hsm/ceremony.json.',
    });
  }
  return parseCeremonyDefinition(json);
}

function algorithmArg(v: string): KeyAlgorithm {
  if (!isKeyAlgorithm(v)) throw new InvalidArgumentError(`must be one of ${KEY_ALGORITHMS.join(', ')}`);
  return v;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function keySummary(k: KeyRecord) {
  return {
    kind: k.kind,
    label: k.label,
    algorithm: k.algorithm,
    status: k.status,
    subject: k.subject,
    serial: k.serialHex,
    notBefore: k.notBefore.toISOString(),
    notAfter: k.notAfter.toISOString(),
    privateKeyUsage: { notBefore: k.pkupNotBefore.toISOString(), notAfter: k.pkupNotAfter.toISOString() },
  };
}

/** Writes an output file; FILE_NOT_WRITABLE names the file. */
export function writeOut(file: string, data: string | Uint8Array): void {
  try {
    writeFileSync(file, data, typeof data === 'string' ? { encoding: 'utf8' } : undefined);
  } catch (e) {
    throw new KadiError('FILE_NOT_WRITABLE', `cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Reads an input file; FILE_NOT_READABLE names the file. */
export function readIn(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new KadiError('FILE_NOT_READABLE', `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function registerKeysCommands(program: Command, ctx: () => Context): void {
  const actor = (): string => (program.opts().actor as string | undefined) ?? 'cli';
  const keys = program.command('keys').description('key custodian: CSCA and Document Signer keys in the HSM, certificates and CRLs');

  keys
    .command('ceremony')
    .description('create the CSCA and the first Document Signer in the HSM, their certificates and the first CRL')
    .option('--algorithm <alg>', `key algorithm: ${KEY_ALGORITHMS.join(' | ')} (default: the definition's)`, algorithmArg)
    .option('--definition <file>', 'ceremony definition (JSON)', DEFAULT_DEFINITION)
    .option('--json', 'JSON output')
    .action(async (o: { algorithm?: KeyAlgorithm; definition: string; json?: boolean }) =>
      runWith(ctx, !!o.json, async (c, defer) => {
        const def = loadDefinition(o.definition);
        const db = await c.db();
        const hsm = openHsm(c.config);
        defer(() => hsm.close());
        const r = await ceremony({ db, keyStore: hsm, actor: actor() }, def, o.algorithm ? { algorithm: o.algorithm } : {});
        const out = {
          csca: keySummary(r.csca),
          ds: keySummary(r.ds),
          crl: { crlNumber: r.crl.crlNumber, thisUpdate: r.crl.thisUpdate.toISOString(), nextUpdate: r.crl.nextUpdate.toISOString() },
        };
        if (o.json) return printJson(out);
        printLine(`CSCA  ${r.csca.label}  ${r.csca.algorithm}  serial ${r.csca.serialHex}`);
        printLine(`      ${r.csca.subject}; key usable until ${out.csca.privateKeyUsage.notAfter}, certificate until ${out.csca.notAfter}`);
        printLine(`DS    ${r.ds.label}  ${r.ds.algorithm}  serial ${r.ds.serialHex}`);
        printLine(`      ${r.ds.subject}; signs until ${out.ds.privateKeyUsage.notAfter}`);
        printLine(`CRL   #${r.crl.crlNumber}, next update due ${out.crl.nextUpdate}`);
        printLine('Export the CSCA for inspection systems: kadi keys export --csca csca.pem');
      }),
    );

  keys
    .command('rotate-ds')
    .description('create the next Document Signer (key in the HSM, certificate from the CSCA); retires the current one')
    .option('--algorithm <alg>', `key algorithm: ${KEY_ALGORITHMS.join(' | ')}`, algorithmArg)
    .option('--definition <file>', 'ceremony definition (JSON)', DEFAULT_DEFINITION)
    .option('--json', 'JSON output')
    .action(async (o: { algorithm?: KeyAlgorithm; definition: string; json?: boolean }) =>
      runWith(ctx, !!o.json, async (c, defer) => {
        const def = loadDefinition(o.definition);
        const db = await c.db();
        const hsm = openHsm(c.config);
        defer(() => hsm.close());
        const r = await rotateDs({ db, keyStore: hsm, actor: actor() }, def, o.algorithm ? { algorithm: o.algorithm } : {});
        if (o.json) return printJson({ ds: keySummary(r.ds), retired: r.retired });
        printLine(`DS    ${r.ds.label}  ${r.ds.algorithm}  serial ${r.ds.serialHex}, signs until ${r.ds.pkupNotAfter.toISOString()}`);
        if (r.retired.length) printLine(`retired: ${r.retired.join(', ')}`);
      }),
    );

  keys
    .command('list')
    .description('CSCA and Document Signer keys on record, newest first')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      runWith(ctx, !!o.json, async (c) => {
        const list = await listKeys(await c.db());
        if (o.json) return printJson(list);
        if (list.length === 0) return printLine('no keys (run `kadi keys ceremony`)');
        printLine(
          table([
            ['KIND', 'LABEL', 'ALGORITHM', 'STATUS', 'SERIAL', 'KEY USABLE UNTIL', 'IN USE PERIOD'],
            ...list.map((k) => [k.kind, k.label, k.algorithm, k.status, k.serial.slice(0, 16), k.privateKeyUsage.notAfter, k.inUsagePeriod ? 'yes' : 'no']),
          ]),
        );
      }),
    );

  keys
    .command('export')
    .description('write the CSCA certificate (PEM), the trust anchor for inspection systems and QC')
    .requiredOption('--csca <file>', 'output PEM file')
    .option('--all', 'all CSCA certificates on record, not only the active one')
    .option('--json', 'JSON output')
    .action(async (o: { csca: string; all?: boolean; json?: boolean }) =>
      runWith(ctx, !!o.json, async (c) => {
        const r = await exportCsca({ db: await c.db(), actor: actor() }, { all: !!o.all });
        writeOut(o.csca, r.pem);
        if (o.json) return printJson({ file: path.resolve(o.csca), certificates: r.certificates });
        for (const x of r.certificates) printLine(`${x.label}  serial ${x.serial}  sha256 ${x.sha256}`);
        printLine(`written to ${o.csca}`);
      }),
    );

  keys
    .command('crl')
    .description('issue a new CRL from the CSCA (carries earlier revocations), optionally revoking Document Signers')
    .requiredOption('--out <file>', 'output file (DER, or PEM with --pem)')
    .option('--revoke <serial>', 'serial number (hex) of a Document Signer or seal signer certificate to revoke (kadi keys list, kadi seal list); repeatable', collect, [] as string[])
    .option('--next-update-days <days>', 'days until nextUpdate, 1-90 (default: the definition\'s)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 90) throw new InvalidArgumentError('must be an integer from 1 to 90');
      return n;
    })
    .option('--pem', 'write PEM instead of DER')
    .option('--definition <file>', 'ceremony definition (JSON)', DEFAULT_DEFINITION)
    .option('--json', 'JSON output')
    .action(async (o: { out: string; revoke: string[]; nextUpdateDays?: number; pem?: boolean; definition: string; json?: boolean }) =>
      runWith(ctx, !!o.json, async (c, defer) => {
        const def = loadDefinition(o.definition);
        const db = await c.db();
        const hsm = openHsm(c.config);
        defer(() => hsm.close());
        const r = await issueCrl({ db, keyStore: hsm, actor: actor() }, def, {
          revoke: o.revoke,
          ...(o.nextUpdateDays !== undefined ? { nextUpdateDays: o.nextUpdateDays } : {}),
        });
        writeOut(o.out, o.pem ? crlPem(r.crl.der) : r.crl.der);
        const out = {
          file: path.resolve(o.out),
          issuer: r.issuer,
          crlNumber: r.crl.crlNumber,
          thisUpdate: r.crl.thisUpdate.toISOString(),
          nextUpdate: r.crl.nextUpdate.toISOString(),
          revoked: r.revoked,
          newlyRevoked: r.newlyRevoked,
        };
        if (o.json) return printJson(out);
        printLine(`CRL #${out.crlNumber} from ${out.issuer}: ${out.revoked.length} revoked, next update due ${out.nextUpdate}`);
        for (const s of r.newlyRevoked) printLine(`revoked serial ${s}`);
        printLine(`written to ${o.out}`);
      }),
    );
}
