/**
 * Encoder utilisation from a real reader pool: a virtual card in a pcscd slot of the test run, the ReaderPool of
 * src/encoders found through its diagnostics channel, busy time from its acquire/release events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardLauncher, DirCardStore } from '../applets/index.ts';
import { ReaderPool } from '../src/encoders/index.ts';
import { WorkerMetrics } from '../src/pipeline/index.ts';
import { claimReaderSlots, testServices } from './support/env.ts';

const MASTER = new Uint8Array(Buffer.from('404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F', 'hex'));

let home: string;
beforeAll(() => {
  testServices(); // PCSCLITE_CSOCK_NAME for this worker
  home = mkdtempSync(path.join(os.tmpdir(), 'kadi-wm-pcsc-'));
});
afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

function sample(text: string, name: string, label: string, v: string): number | undefined {
  const m = new RegExp(`^${name}\\{${label}="${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('encoder metrics on a real reader pool', () => {
  it('follows a pool opened after followReaderPools(): encoder states, busy flag and busy seconds', async () => {
    const s = testServices();
    const claim = claimReaderSlots(1);
    const slot = { index: claim.slots[0]!.port - s.readerBasePort, port: claim.slots[0]!.port, name: claim.slots[0]!.name };
    const launcher = new CardLauncher({ store: new DirCardStore(path.join(home, 'cards')), masterKey: MASTER });
    const metrics = new WorkerMetrics({ processMetrics: false });
    metrics.followReaderPools();
    let pool: ReaderPool | undefined;
    try {
      await launcher.insertNew(slot);
      pool = await ReaderPool.open({ readers: [slot.name] });
      const enc = await pool.acquire({ timeoutMs: 15_000 });
      let t = await metrics.metrics();
      expect(sample(t, 'kadi_worker_encoder_busy', 'encoder', slot.name)).toBe(1);
      expect(sample(t, 'kadi_worker_encoders', 'state', 'busy')).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      pool.release(enc);
      t = await metrics.metrics();
      expect(sample(t, 'kadi_worker_encoder_busy', 'encoder', slot.name)).toBe(0);
      expect(sample(t, 'kadi_worker_encoders', 'state', 'used')).toBe(1); // released, waiting for a new blank
      const busy = sample(t, 'kadi_worker_encoder_busy_seconds_total', 'encoder', slot.name)!;
      expect(busy).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 50));
      // idle time does not count
      expect(sample(await metrics.metrics(), 'kadi_worker_encoder_busy_seconds_total', 'encoder', slot.name)).toBe(busy);
    } finally {
      metrics.close();
      await launcher.stop();
      await pool?.encoder(slot.name).ctx.waitEmpty(slot.name, 5_000).catch(() => undefined);
      await pool?.close();
      claim.release();
    }
  });
});
