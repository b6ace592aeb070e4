/**
 * EF.SOD signing through PKCS#11 (SoftHSM), in one run, on the same Document Signer key (ECDSA P-256, made by
 * the key ceremony in a throw-away token and database):
 *
 *   pkcs11.c_sign.raw            baseline: C_SignInit + C_Sign (CKM_ECDSA) on a 32-octet hash, one thread, one session
 *   sod.kadi.pkcs11              Kadi documents/s: hash DG1, DG2 (15 KB), DG11-DG15 + LDSSecurityObject (lds) + signed
 *                                attributes + PKCS#11 signature + hand-written DER assembly (pki SodBuilder), one at a time
 *   sod.kadi.ratio_to_raw        the above / raw (goal >= 0.5)
 *   sod.kadi.session             the same through keys.currentDsSigner (policy checks per signature, key-use count)
 *   sod.kadi.build_only          Kadi without the signature (a fixed signature value): the software part alone
 *   sod.naive_pkijs.pkcs11       the naive baseline: pkijs/asn1js objects, same key, same hashes
 *   sod.naive_pkijs.ratio_to_raw
 *   pkcs11.c_sign.raw.2threads   raw C_Sign in 2 worker threads (one session each), summed
 *   sod.kadi.pkcs11.2threads     Kadi documents in 2 worker threads (one adapter + session each), summed
 *   sod.kadi.pkcs11.async        one thread, C_SignAsync on the libuv pool, 2 sessions, 4 documents in flight
 */
import { execFileSync } from 'node:child_process';
import { createHash, hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import { migrateLatest, openDb } from '../src/db/index.ts';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { ceremony, currentDsSigner, parseCeremonyDefinition } from '../src/keys/index.ts';
import { computeDataGroupHashes, encodeDg1, encodeLdsSecurityObject } from '../src/lds/index.ts';
import { CscaStore, SodBuilder, parseCertificate, verifySod } from '../src/pki/index.ts';
import { type BenchContext, round, timed, timedSync } from './lib.ts';
import { NaiveSodBuilder } from './naive-pkijs.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODULE = process.env.KADI_HSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const LDS_VERSION = { ldsVersion: '0108', unicodeVersion: '040000' };

function tlv(tag: number, len: number, seed: number): Uint8Array {
  const body = new Uint8Array(len).map((_, i) => (seed * 31 + i * 7) & 0xff);
  const hdr = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  return Uint8Array.from([...hdr, ...body]);
}

/** DG1 (TD1 MRZ), DG2 (~15 KB face), DG11-DG15 of typical sizes. */
function dataGroups(): Map<number, Uint8Array> {
  return new Map([
    [1, encodeDg1(['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'])],
    [2, tlv(0x75, 15_000, 2)],
    [11, tlv(0x6b, 180, 11)],
    [12, tlv(0x6c, 60, 12)],
    [13, tlv(0x6d, 90, 13)],
    [14, tlv(0x6e, 300, 14)],
    [15, tlv(0x6f, 95, 15)],
  ]);
}

/** The lds digest port, as src/keys/signing.ts implements it (one-shot hash). */
const digest = (alg: string, data: Uint8Array): Uint8Array => hash(alg, data, 'buffer');

interface WorkerJob {
  module: string;
  token: string;
  pin: string;
  label: string;
  dsCertificate: Uint8Array;
  dataGroups: Array<[number, Uint8Array]>;
  mode: 'raw' | 'kadi';
  seconds: number;
}

/** Runs `threads` workers on the same window; returns the summed rate. */
async function inWorkers(threads: number, job: WorkerJob): Promise<{ rate: number; n: number; perThread: number[] }> {
  // tsx's loader hooks are not inherited by worker threads: register them in the worker, then load the module.
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./sod.worker.ts', import.meta.url).href)}); })`;
  const workers = Array.from({ length: threads }, () => new Worker(boot, { eval: true, workerData: job }));
  try {
    const ready = workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    );
    await Promise.all(ready);
    const results = workers.map(
      (w) =>
        new Promise<{ n: number; ms: number }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    for (const w of workers) w.postMessage('go');
    const r = await Promise.all(results);
    const perThread = r.map((x) => (x.n * 1000) / x.ms);
    return { rate: perThread.reduce((a, b) => a + b, 0), n: r.reduce((a, b) => a + b.n, 0), perThread };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export default async function sodBench(ctx: BenchContext): Promise<void> {
  const S = ctx.seconds;
  // A throw-away SoftHSM token through the project's services script.
  const home = ctx.tmpDir;
  execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'start', 'softhsm'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', KADI_HOME: home, KADI_HSM_TOKEN: 'kadi' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.env.SOFTHSM2_CONF = path.join(home, 'softhsm', 'softhsm2.conf');
  const pin = readFileSync(path.join(home, 'secrets', 'hsm-pin'), 'utf8').trim();
  const hsm = Pkcs11Hsm.open({ module: MODULE, token: 'kadi', pin, sessions: 2 });
  const db = openDb(`sqlite:${path.join(home, 'bench.sqlite')}`);
  try {
    await migrateLatest(db);
    const def = parseCeremonyDefinition(JSON.parse(readFileSync(path.join(ROOT, 'hsm/ceremony.json'), 'utf8')));
    const keys = await ceremony({ db, keyStore: hsm, actor: 'bench' }, def, { algorithm: 'ecdsa-p256' });
    const label = keys.ds.label;
    const dsCert = keys.ds.certificate;
    const dgs = dataGroups();
    const common = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', key: 'ecdsa-p256', dataGroups: [...dgs.keys()], dg2Bytes: dgs.get(2)!.length };
    ctx.log(`DS key ${label}; ${common.cpus} CPU(s) ${common.cpu}; ${S} s per figure`);

    // 1. Raw PKCS#11 baseline on the same key.
    const handle = await hsm.privateKeyHandle(label);
    const h32 = createHash('sha256').update('raw').digest();
    const out = Buffer.alloc(64);
    const raw = await hsm.withSession((p, s) =>
      timedSync(S, () => {
        p.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, handle);
        p.C_Sign(s, h32, out);
      }, 1000),
    );
    ctx.report({ name: 'pkcs11.c_sign.raw', value: round(raw.rate), unit: 'signatures/s', n: raw.n, mechanism: 'CKM_ECDSA', threads: 1, ...common });

    // 2. Kadi: lds encoder + SodBuilder + HSM signer, one document at a time.
    const signer = await hsm.signer(label);
    const builder = new SodBuilder(dsCert, signer);
    const kadiDoc = async (): Promise<Uint8Array> => {
      const hashes = computeDataGroupHashes(dgs, 'sha256', digest);
      const lds = encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: hashes, ldsVersionInfo: LDS_VERSION });
      return builder.sign(lds, new Date());
    };
    const sample = await kadiDoc();
    const check = verifySod(sample, { cscas: new CscaStore([parseCertificate(keys.csca.certificate)]), dataGroups: dgs });
    if (!check.valid) throw new Error(`Kadi EF.SOD does not verify: ${JSON.stringify(check.errors)}`);
    const kadi = await timed(S, kadiDoc, 500);
    ctx.report({ name: 'sod.kadi.pkcs11', value: round(kadi.rate), unit: 'docs/s', n: kadi.n, threads: 1, sodBytes: sample.length, ...common });
    ctx.report({ name: 'sod.kadi.ratio_to_raw', value: round(kadi.rate / raw.rate, 3), unit: 'ratio', n: kadi.n, goal: 0.5 });

    // 3. The same through the keys signing session (PKUP / CRL checks per signature, key-use count).
    const session = await currentDsSigner({ db, keyStore: hsm, actor: 'bench' });
    try {
      const viaSession = await timed(S, () => session.signSod(dgs), 500);
      ctx.report({ name: 'sod.kadi.session', value: round(viaSession.rate), unit: 'docs/s', n: viaSession.n, threads: 1, ...common });
    } finally {
      await session.close();
    }

    // 4. The software part alone (no signature): what the hot loop costs on top of C_Sign.
    const fixedSig = await signer.sign(new Uint8Array(10));
    const buildOnly = timedSync(S, () => {
      const hashes = computeDataGroupHashes(dgs, 'sha256', digest);
      const lds = encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: hashes, ldsVersionInfo: LDS_VERSION });
      const attrs = builder.signedAttributes(digest('sha256', lds), new Date());
      return builder.assemble(lds, attrs, fixedSig);
    }, 1000);
    ctx.report({ name: 'sod.kadi.build_only', value: round(buildOnly.rate), unit: 'docs/s', n: buildOnly.n, threads: 1, note: 'DG hashing + LDSSecurityObject + signed attributes + DER, no signature' });

    // 5. The naive pkijs baseline, same key.
    const naive = new NaiveSodBuilder(dsCert, signer);
    const naiveSample = await naive.sign(dgs, new Date());
    const nCheck = verifySod(naiveSample, { cscas: [parseCertificate(keys.csca.certificate)], dataGroups: dgs });
    if (!nCheck.valid) throw new Error(`naive EF.SOD does not verify: ${JSON.stringify(nCheck.errors)}`);
    const naiveRate = await timed(S, () => naive.sign(dgs, new Date()), 100);
    ctx.report({ name: 'sod.naive_pkijs.pkcs11', value: round(naiveRate.rate), unit: 'docs/s', n: naiveRate.n, threads: 1, sodBytes: naiveSample.length, ...common });
    ctx.report({ name: 'sod.naive_pkijs.ratio_to_raw', value: round(naiveRate.rate / raw.rate, 3), unit: 'ratio', n: naiveRate.n });
    ctx.report({ name: 'sod.kadi.speedup_vs_naive', value: round(kadi.rate / naiveRate.rate, 2), unit: 'ratio', n: kadi.n });

    // 6. Both cores: worker threads (each its own adapter and session) ...
    const job: WorkerJob = { module: MODULE, token: 'kadi', pin, label, dsCertificate: dsCert, dataGroups: [...dgs.entries()], mode: 'raw', seconds: S };
    const raw2 = await inWorkers(2, job);
    ctx.report({ name: 'pkcs11.c_sign.raw.2threads', value: round(raw2.rate), unit: 'signatures/s', n: raw2.n, threads: 2, perThread: raw2.perThread.map((x) => round(x)), scaling: round(raw2.rate / raw.rate, 2) });
    const kadi2 = await inWorkers(2, { ...job, mode: 'kadi' });
    ctx.report({ name: 'sod.kadi.pkcs11.2threads', value: round(kadi2.rate), unit: 'docs/s', n: kadi2.n, threads: 2, perThread: kadi2.perThread.map((x) => round(x)), scaling: round(kadi2.rate / kadi.rate, 2), ratioToRaw2Threads: round(kadi2.rate / raw2.rate, 3) });

    // ... and one thread with C_SignAsync on the libuv pool, 2 sessions, 4 documents in flight.
    const asyncHsm = Pkcs11Hsm.open({ module: MODULE, token: 'kadi', pin, sessions: 2, asyncSign: true });
    try {
      const asyncBuilder = new SodBuilder(dsCert, await asyncHsm.signer(label));
      const doc = async (): Promise<Uint8Array> => {
        const hashes = computeDataGroupHashes(dgs, 'sha256', digest);
        return asyncBuilder.sign(encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: hashes, ldsVersionInfo: LDS_VERSION }), new Date());
      };
      const inFlight = 4;
      const a = await timed(S, () => Promise.all(Array.from({ length: inFlight }, doc)), 100);
      ctx.report({ name: 'sod.kadi.pkcs11.async', value: round(a.rate * inFlight), unit: 'docs/s', n: a.n * inFlight, threads: 1, sessions: 2, inFlight, scaling: round((a.rate * inFlight) / kadi.rate, 2) });
    } finally {
      await asyncHsm.close();
    }
  } finally {
    await db.destroy();
    await hsm.close();
  }
}
