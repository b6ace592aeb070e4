/**
 * `kadi sod sign` (key custodian tool: signs data-group files with the current Document Signer) and
 * `kadi sod verify` (passive authentication of any EF.SOD, ICAO 9303-11 §5.1).
 */
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { currentDsSigner } from '../keys/index.ts';
import { CscaStore, type Crl, parseCertificates, parseCrls, verifySod } from '../pki/index.ts';
import { KadiError } from '../shared/index.ts';
import type { Context } from './context.ts';
import { openHsm, readIn, runWith, writeOut } from './keys.ts';
import { printJson, printLine, reportError } from './output.ts';

/** `--dg N=FILE`, repeatable: data group number 1..16 and a file. */
function dgArg(v: string, prev: Array<[number, string]>): Array<[number, string]> {
  const m = /^(\d{1,2})=(.+)$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n < 1 || n > 16) throw new InvalidArgumentError('expected N=FILE with N a data group number 1-16, e.g. --dg 1=DG1.bin');
  if (prev.some(([k]) => k === n)) throw new InvalidArgumentError(`data group ${n} given twice`);
  return [...prev, [n, m[2]!]];
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function readDataGroups(list: Array<[number, string]>): Map<number, Uint8Array> {
  return new Map(list.map(([n, f]) => [n, readIn(f)]));
}

export function registerSodCommands(program: Command, ctx: () => Context): void {
  const actor = (): string => (program.opts().actor as string | undefined) ?? 'cli';
  const sod = program.command('sod').description('EF.SOD (document security object): sign data groups, verify (passive authentication)');

  sod
    .command('sign')
    .description('sign data-group files with the current Document Signer into an EF.SOD (SHA-256, LDS 1.8)')
    .option('--dg <n=file>', 'data group number and file (whole EF, tag included); repeatable, at least 2', dgArg, [] as Array<[number, string]>)
    .requiredOption('--out <file>', 'EF.SOD output file')
    .option('--lds-v0', 'write LDSSecurityObject v0 (no ldsVersionInfo)')
    .option('--json', 'JSON output')
    .action(async (o: { dg: Array<[number, string]>; out: string; ldsV0?: boolean; json?: boolean }) =>
      runWith(ctx, !!o.json, async (c, defer) => {
        if (o.dg.length < 2) throw new KadiError('CLI_USAGE', 'give at least two data groups (--dg 1=DG1 --dg 2=DG2 ...)', { hint: 'An LDSSecurityObject lists 2 to 16 data groups.' });
        const dgs = readDataGroups(o.dg);
        const db = await c.db();
        const hsm = openHsm(c.config);
        defer(() => hsm.close());
        const session = await currentDsSigner({ db, keyStore: hsm, actor: actor() });
        defer(() => session.close().then(() => undefined));
        const bytes = await session.signSod(dgs, o.ldsV0 ? { ldsVersionInfo: null } : {});
        writeOut(o.out, bytes);
        const out = {
          file: path.resolve(o.out),
          bytes: bytes.length,
          dataGroups: [...dgs.keys()].sort((a, b) => a - b),
          signer: { label: session.ds.label, serial: session.ds.serialHex, algorithm: session.ds.algorithm },
        };
        if (o.json) return printJson(out);
        printLine(`EF.SOD (${out.bytes} bytes) over DG${out.dataGroups.join(', DG')} signed by ${out.signer.label} (serial ${out.signer.serial}), written to ${o.out}`);
      }),
    );

  sod
    .command('verify')
    .description('passive authentication: CMS signature, DS chain to a CSCA, revocation, data-group hashes; non-zero exit on any failure')
    .argument('<ef-sod>', 'EF.SOD file (with or without the 0x77 wrapper)')
    .requiredOption('--csca <bundle>', 'CSCA certificate(s), PEM bundle or one DER certificate')
    .option('--crl <file>', 'CRL (DER or PEM); repeatable', collect, [] as string[])
    .option('--dg <n=file>', 'data group file to compare with the SOD hash; repeatable', dgArg, [] as Array<[number, string]>)
    .option('--at <iso-time>', 'check certificate validity at this time (default: the SOD signing time)')
    .option('--strict', 'fail (not only warn) when the DS or CSCA is outside its validity period')
    .option('--json', 'JSON output')
    .action(async (file: string, o: { csca: string; crl: string[]; dg: Array<[number, string]>; at?: string; strict?: boolean; json?: boolean }) => {
      try {
        const sodBytes = readIn(file);
        const bundle = readIn(o.csca);
        const store = bundle[0] === 0x30 ? new CscaStore(parseCertificates(bundle)) : CscaStore.fromPem(Buffer.from(bundle).toString('latin1'));
        const crls: Crl[] = o.crl.flatMap((f) => parseCrls(readIn(f)));
        let at: Date | undefined;
        if (o.at) {
          at = new Date(o.at);
          if (Number.isNaN(at.getTime())) throw new KadiError('CLI_USAGE', `--at: "${o.at}" is not an ISO 8601 time`);
        }
        const r = verifySod(sodBytes, {
          cscas: store,
          crls,
          dataGroups: readDataGroups(o.dg),
          ...(at ? { at } : {}),
          ...(o.strict ? { strictValidity: true } : {}),
        });
        if (o.json) printJson(r);
        else {
          printLine(`${r.valid ? 'VALID' : 'INVALID'}: signature ${r.signatureValid ? 'ok' : 'BAD'}, chain ${r.chainValid ? 'ok' : `BAD (${r.chainReason})`}, ${r.signatureAlgorithm}, LDS hashes ${r.ldsHashAlgorithm}`);
          if (r.signerCertificate) printLine(`signer: ${r.signerCertificate.subject} (serial ${r.signerCertificate.serialNumber})`);
          if (r.cscaSubject) printLine(`CSCA:   ${r.cscaSubject}`);
          for (const [n, ok] of Object.entries(r.dgMatches)) printLine(`DG${n}: ${ok ? 'hash matches' : 'HASH MISMATCH'}`);
          for (const e of r.errors) printLine(`error ${e.code}: ${e.message}`);
          for (const w of r.warnings) printLine(`warning ${w.code}: ${w.message}`);
        }
        if (!r.valid) process.exitCode = 1;
      } catch (e) {
        process.exitCode = reportError(e, !!o.json);
      }
    });
}
