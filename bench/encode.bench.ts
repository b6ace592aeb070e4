/**
 * Chip encoding benchmark (issue 4, docs/decisions/0008-encoding.md), one JSON line per figure:
 *
 *   pcsc.apdu_roundtrip.raw            baseline: bare pcsclite SCardTransmit round trips through pcscd + vpcd to a
 *                                      virtual card (GET DATA CPLC), one reader
 *   pcsc.apdu_roundtrip.adapter        the same through Kadi's PcscCardChannel
 *   encode.apdus_per_card              APDUs per card (steady state) against the minimum for the card's maximum APDU
 *                                      size (goal: within 10 %), with the short-APDU minimum for comparison
 *   encode.bytes_per_card              wire bytes per card against the plain minimum
 *   encode.card_ms.sl33 / .sl03        one encoder, ms per card at SCP03 security level 33 and 03
 *   encode.software_ms_per_card        card time beyond the APDU round trips (goal: < 10 % of the card time)
 *   encode.software_share_of_reader_time   the same for the time a card occupies the reader (the result is
 *                                      recorded in the database after the card left it)
 *   encode.card_ms.breakdown           where a card's time goes (phases, HSM, SOD verification, transport)
 *   encode.cards_per_s.{1,2,4,8}       cards/s with that many encoders side by side (one PC/SC context)
 *   encode.scaling_4_vs_1 / 8_vs_1     ratio of the above (goal: 4 encoders >= 3x one)
 *   encode.cards_per_s.{4,8}.context_per_encoder   one PC/SC context per encoder instead of one per pool
 *   encode.cpu_ceiling_cards_per_s     cards/s the two cores allow: CPU per card of encoder + cards + pcscd
 *   encode.model.*                     second series, same run: the virtual cards follow a contact-chip timing
 *                                      model (applets/runtime/timing.ts: T=1 at 223.2 kbit/s, EEPROM 3 ms per
 *                                      64-byte page); cards/s with 1, 2, 4, 8 encoders, software ms per card and its
 *                                      share of the card time, scaling (KADI_BENCH_MODEL_CARDS cards per encoder)
 *
 * The first series (zero-latency virtual cards) measures the host software against cards that cost nothing but CPU
 * on the same two cores: there, scaling is bounded by total CPU (encoder + card emulator + pcscd), not by Kadi.
 *
 * Real components: pcscd with 8 vpcd readers (with the TCP_NODELAY shim) and a SoftHSM token, started by
 * scripts/services.sh in a scratch KADI_HOME; Kadi virtual cards in a separate process; SQLite. The card swap
 * (a card transport's mechanics in a real encoder; pcscd's ~400 ms presence poll with virtual cards) is left out:
 * the feeder replaces a personalised card by a new blank behind the same vpcd connection. Measured in a child
 * process with UV_THREADPOOL_SIZE=16 (pcsclite runs every SCardTransmit on the libuv pool).
 *
 * Environment: BENCH_SECONDS (per figure), KADI_BENCH_ENCODE_CARDS (prepared cards, default 3000),
 * KADI_BENCH_EXEC_ARGV (extra node options for the measuring and card processes, space separated, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`: NODE_OPTIONS refuses --cpu-prof).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig, startServices, stopServices, type ServiceConfig } from '../test/support/services.ts';
import { type BenchContext, extraExecArgv, pidOf, runBenchWorker } from './lib.ts';
import type { WorkerConfig } from './encode.worker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function run(ctx: BenchContext): Promise<void> {
  const cfg: ServiceConfig = await makeConfig(ctx.tmpDir, { readers: 8 });
  const info = await startServices(cfg, ['pcscd', 'softhsm']);
  try {
    const readers = info.slots.filter((s) => / 00 00$/.test(s.name)).slice(0, 8);
    const config: WorkerConfig = {
      home: ctx.tmpDir,
      pcscdPid: pidOf(path.join(ctx.tmpDir, 'pcsc', 'pcscd.pid')),
      hsmModule: info.hsmModule,
      hsmPin: readFileSync(info.hsmPinFile, 'utf8').trim(),
      readers,
      seconds: ctx.seconds,
      cards: Number(process.env.KADI_BENCH_ENCODE_CARDS ?? 3000),
    };
    const child = fork(path.join(ROOT, 'bench/encode.worker.ts'), [], {
      execArgv: ['--import', 'tsx', ...extraExecArgv()],
      env: { ...process.env, PCSCLITE_CSOCK_NAME: info.pcscSocket, SOFTHSM2_CONF: info.softhsmConf, UV_THREADPOOL_SIZE: '16' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await runBenchWorker(child, ctx, config);
  } finally {
    await stopServices(cfg, ['pcscd', 'softhsm']);
  }
}

export default run;
