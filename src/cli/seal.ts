/**
 * `kadi seal ...`: the Visible Digital Seal (ICAO Doc 9303-13) on the card face.
 *
 *   kadi seal keygen [--code XX] [--usage-months N] [--json]     key custodian: seal signer key + certificate
 *   kadi seal list [--json]                                      seal signers on record
 *   kadi seal export --out FILE                                  seal signer certificates (PEM bundle)
 *   kadi seal sign --batch ID [--json]                           sign the missing seals of a batch
 *   kadi seal verify (--image PNG | --data HEX) --csca FILE [--signer FILE]... [--crl FILE]... [--at DATE] [--no-db] [--json]
 *
 * `verify` exits 0 for a VALID seal, 3 for an INVALID one (the JSON says why: Doc 9303-13 Appendix D
 * sub-indications), 1 for other errors (unreadable files, no seal in the image).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { Pkcs11Hsm } from '../hsm/index.ts';
import { type Certificate, type Crl, parseCertificates, parseCrls } from '../pki/index.ts';
import {
  createSealSigner,
  loadTemplateFile,
  readSealFromPng,
  sealFromHex,
  sealSigners,
  sealTrustMaterial,
  signBatchSeals,
  sealSigningSession,
  verifySeal,
} from '../print/index.ts';
import { KadiError } from '../shared/index.ts';
import { Context } from './context.ts';
import { printJson, printLine, progress, table } from './output.ts';
import { type Defer, withContext } from './run.ts';
import { openHsm } from './keys.ts';
import { DEFAULT_TEMPLATE } from './print.ts';

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** withContext, with the Context handed over lazily (verification needs no configuration). */
function run(json: boolean, body: (ctx: () => Context, defer: Defer) => Promise<number | void>): Promise<void> {
  return withContext(json, (c, defer) => body(() => c, defer));
}

function openSealHsm(ctx: Context, defer: Defer): Pkcs11Hsm {
  const hsm = openHsm(ctx.config);
  defer(() => hsm.close());
  return hsm;
}

function readFileArg(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new KadiError('SEAL_FILE_UNREADABLE', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerSealCommands(program: Command, actor: () => string): void {
  const seal = program.command('seal').description('Visible Digital Seals (ICAO 9303-13): seal signer keys, signing, verification');

  seal
    .command('keygen')
    .description('key custodian: create a seal signer key pair in the HSM and its certificate under the active CSCA')
    .option('--code <XX>', 'two upper-case letters, the certificate CN and signer id (default: next free SA, SB, ...)')
    .option('--usage-months <n>', 'private key usage period, months', intArg('--usage-months', 1, 24), 12)
    .option('--json', 'JSON output')
    .action(async (o: { code?: string; usageMonths: number; json?: boolean }) =>
      run(!!o.json, async (c, defer) => {
        const ctx = c();
        const db = await ctx.db();
        const keyStore = openSealHsm(ctx, defer);
        const s = await createSealSigner({ db, keyStore, actor: actor() }, { usageMonths: o.usageMonths, ...(o.code ? { code: o.code } : {}) });
        const rep = { label: s.label, signerIdentifier: s.signerIdentifier, serial: s.certificateReference, subject: s.cert.subject.text, notAfter: s.cert.notAfter.toISOString(), usableUntil: s.pkupNotAfter.toISOString() };
        if (o.json) printJson(rep);
        else printLine(`seal signer ${s.signerIdentifier} (${s.label}), certificate serial ${s.certificateReference}, signs until ${rep.usableUntil}`);
      }),
    );

  seal
    .command('list')
    .description('seal signers on record')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      run(!!o.json, async (c) => {
        const list = (await sealSigners(await c().db())).map((s) => ({
          label: s.label,
          signerIdentifier: s.signerIdentifier,
          serial: s.certificateReference,
          status: s.status,
          usableFrom: s.pkupNotBefore.toISOString(),
          usableUntil: s.pkupNotAfter.toISOString(),
          certificateNotAfter: s.cert.notAfter.toISOString(),
        }));
        if (o.json) return printJson(list);
        printLine(table([['SIGNER', 'SERIAL', 'STATUS', 'USABLE UNTIL', 'LABEL'], ...list.map((s) => [s.signerIdentifier, s.serial, s.status, s.usableUntil, s.label])]));
      }),
    );

  seal
    .command('export')
    .description('write the seal signer certificates as a PEM bundle (for verifiers)')
    .requiredOption('--out <file>', 'PEM file')
    .action(async (o: { out: string }) =>
      run(false, async (c) => {
        const list = await sealSigners(await c().db());
        if (list.length === 0) throw new KadiError('SEAL_NO_SIGNER', 'there is no seal signer', { hint: 'Run `kadi seal keygen`.' });
        const pem = list.map((s) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(s.certificate).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`).join('');
        writeFileSync(path.resolve(o.out), pem);
        printLine(`${list.length} seal signer certificate(s) -> ${path.resolve(o.out)}`);
      }),
    );

  seal
    .command('sign')
    .description('sign the missing seals of a batch with the active seal signer (done by `kadi print batch` too)')
    .requiredOption('--batch <id>', 'batch id', intArg('--batch', 1))
    .option('--template <file>', 'card template JSON', DEFAULT_TEMPLATE)
    .option('--json', 'JSON output')
    .action(async (o: { batch: number; template: string; json?: boolean }) =>
      run(!!o.json, async (c, defer) => {
        const ctx = c();
        const db = await ctx.db();
        const { template } = await loadTemplateFile(o.template);
        const session = await sealSigningSession({ db, keyStore: openSealHsm(ctx, defer) });
        const bar = progress(!!o.json);
        bar.start(0, 'signing');
        const r = await signBatchSeals(db, template, o.batch, session, { actor: actor(), onProgress: (d) => bar.update(d) });
        bar.stop();
        if (o.json) printJson(r);
        else printLine(`batch ${o.batch}: signed ${r.signed} seals (${r.alreadySigned} already signed)`);
      }),
    );

  seal
    .command('verify')
    .description('decode a seal from a card image or hex and verify it: signature with the seal signer certificate, chain to the CSCA')
    .option('--image <png>', 'PNG of the card side (or of the symbol), upright, at least 300 dpi')
    .option('--data <hex>', 'the seal bytes as hex')
    .requiredOption('--csca <file>', 'trusted CSCA certificate(s), PEM or DER')
    .option('--signer <file>', 'seal signer certificate(s), PEM or DER (repeatable); the Kadi database is searched too', collect, [])
    .option('--crl <file>', 'CSCA CRL, PEM or DER (repeatable)', collect, [])
    .option('--at <date>', 'verification time (ISO 8601; default now)')
    .option('--no-db', 'do not look up seal signer certificates in the Kadi database')
    .option('--json', 'JSON output')
    .action(async (o: { image?: string; data?: string; csca: string; signer: string[]; crl: string[]; at?: string; db: boolean; json?: boolean }) =>
      run(!!o.json, async (c) => {
        if (!!o.image === !!o.data) throw new KadiError('CLI_USAGE', 'give exactly one of --image PNG and --data HEX');
        const bytes = o.image ? readSealFromPng(readFileArg(o.image, 'image')) : sealFromHex(o.data!);
        const cscas = parseCertificates(readFileArg(o.csca, 'CSCA file'));
        if (cscas.length === 0) throw new KadiError('SEAL_NO_CSCA', `no certificate in ${o.csca}`);
        // Certificates in the CSCA file that are not self-issued may be seal signers too (a combined bundle).
        const signers: Certificate[] = [...cscas, ...o.signer.flatMap((f) => parseCertificates(readFileArg(f, 'signer certificate')))];
        if (o.db) signers.push(...(await sealTrustMaterial(await c().db())).signers);
        const crls: Crl[] = o.crl.flatMap((f) => parseCrls(readFileArg(f, 'CRL')));
        const at = o.at ? new Date(o.at) : new Date();
        if (Number.isNaN(at.getTime())) throw new KadiError('CLI_USAGE', `--at ${o.at} is not a date`);
        const r = verifySeal(bytes, { cscas, signers, crls, at });
        if (o.json) printJson(r);
        else {
          printLine(`seal ${r.status}${r.subIndication ? ` (${r.subIndication})` : ''}${r.reason ? `: ${r.reason}` : ''}`);
          if (r.header) printLine(`  signer ${r.header.signerIdentifier} serial ${r.header.certificateReference}, issued ${r.header.documentIssueDate}, signed ${r.header.signatureCreationDate}`);
          if (r.data) printLine(`  document ${r.data.documentNumber}, national number ${r.data.nationalNumber}, expires ${r.data.dateOfExpiry}`);
          if (r.csca) printLine(`  chain: ${r.signer?.subject} <- ${r.csca.subject}`);
        }
        return r.status === 'VALID' ? 0 : 3;
      }),
    );
}
