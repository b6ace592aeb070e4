/**
 * Worker thread for bench/sod.bench.ts: its own PKCS#11 adapter (the module is already initialised by the main
 * thread and is adopted; the login is shared), its own session, and one timed loop: raw C_Sign, or Kadi EF.SOD
 * documents. Waits for "go" so that every worker measures the same window.
 */
import { createHash, hash as oneShot } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import { Pkcs11Hsm } from '../src/hsm/index.ts';
import { computeDataGroupHashes, encodeLdsSecurityObject } from '../src/lds/index.ts';
import { SodBuilder } from '../src/pki/index.ts';

interface Job {
  module: string;
  token: string;
  pin: string;
  label: string;
  dsCertificate: Uint8Array;
  dataGroups: Array<[number, Uint8Array]>;
  mode: 'raw' | 'kadi';
  seconds: number;
}

const job = workerData as Job;
const port = parentPort!;
const digest = (alg: string, data: Uint8Array): Uint8Array => oneShot(alg, data, 'buffer');

const hsm = Pkcs11Hsm.open({ module: job.module, token: job.token, pin: job.pin, sessions: 1 });
try {
  const handle = await hsm.privateKeyHandle(job.label);
  const signer = await hsm.signer(job.label);
  const builder = new SodBuilder(job.dsCertificate, signer);
  const dgs = new Map(job.dataGroups);
  const hash = createHash('sha256').update('bench').digest();
  const out = Buffer.alloc(64);
  const kadiDoc = async (): Promise<Uint8Array> => {
    const hashes = computeDataGroupHashes(dgs, 'sha256', digest);
    const lds = encodeLdsSecurityObject({ hashAlgorithm: 'sha256', dataGroupHashes: hashes, ldsVersionInfo: { ldsVersion: '0108', unicodeVersion: '040000' } });
    return builder.sign(lds, new Date());
  };
  // warm-up
  if (job.mode === 'raw') {
    await hsm.withSession((p, s) => {
      for (let i = 0; i < 500; i++) {
        p.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, handle);
        p.C_Sign(s, hash, out);
      }
    });
  } else {
    for (let i = 0; i < 300; i++) await kadiDoc();
  }
  port.postMessage({ ready: true });
  await new Promise<void>((resolve) => port.once('message', () => resolve()));
  const t0 = performance.now();
  const end = t0 + job.seconds * 1000;
  let n = 0;
  let now = t0;
  if (job.mode === 'raw') {
    await hsm.withSession((p, s) => {
      while (now < end) {
        for (let i = 0; i < 64; i++) {
          p.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, handle);
          p.C_Sign(s, hash, out);
        }
        n += 64;
        now = performance.now();
      }
    });
  } else {
    while (now < end) {
      for (let i = 0; i < 16; i++) await kadiDoc();
      n += 16;
      now = performance.now();
    }
  }
  port.postMessage({ n, ms: now - t0 });
} finally {
  await hsm.close();
}
