/**
 * Card feeder for bench/encode.bench.ts, run as its own process (so the virtual cards' work does not share the
 * encoders' event loop): one Kadi virtual card per vpcd slot, each behind a "swappable" runtime, so that a new
 * blank can take the place of a personalised card without closing the vpcd connection (pcscd would otherwise need
 * its ~400 ms presence poll to notice each removal and insertion, which a real encoder's card transport replaces by
 * its own mechanics). The encoder resets the card (SCardDisconnect with SCARD_RESET_CARD + SCardConnect) before each
 * card, which powers the new runtime up.
 *
 * Protocol (process IPC, JSON): parent -> {op:'start', ports, masterKeyHex} | {op:'swap', port} | {op:'stop'} |
 * {op:'timing', timing: ContactCardTiming | null} (every card follows that contact-chip timing model from its next
 * APDU on, applets/runtime/timing.ts; null: as fast as it computes);
 * feeder -> {op:'ready'} | {op:'swapped', port, serial} | {op:'timing'} | {op:'error', message}.
 * Cards are kept in memory only (a runtime without a card store serialises nothing): on this 2-core box the stand-in
 * for card hardware would otherwise take CPU from the host software the bench measures; the card store's cost is
 * the card's, not the host's. {op:'cpu'} -> {op:'cpu', userMs, systemMs}.
 */
import { EidApplet } from '../applets/eid/eid.ts';
import { manufactureCard } from '../applets/factory.ts';
import { IssuerSecurityDomain } from '../applets/gp-isd/isd.ts';
import { CardRuntime } from '../applets/runtime/card.ts';
import { VirtualCard } from '../applets/runtime/vpcd.ts';
import type { ContactCardTiming } from '../applets/runtime/timing.ts';

/** Delegates what VirtualCard uses of a runtime to the current card. */
class SwappableRuntime {
  constructor(public current: CardRuntime) {}
  get atr(): Uint8Array {
    return this.current.atr;
  }
  get serial(): string {
    return this.current.serial;
  }
  powerOn(): void {
    this.current.powerOn();
  }
  powerOff(): void {
    this.current.powerOff();
  }
  transmit(apdu: Uint8Array): Uint8Array {
    return this.current.transmit(apdu);
  }
  get hasUnsavedChanges(): boolean {
    return this.current.hasUnsavedChanges;
  }
  persistQuietly(why: string): void {
    this.current.persistQuietly(why);
  }
}

interface Msg {
  op: string;
  ports?: number[];
  port?: number;
  masterKeyHex?: string;
  timing?: ContactCardTiming | null;
}

const cards = new Map<number, { card: VirtualCard; rt: SwappableRuntime }>();
let master = new Uint8Array(0);

function newRuntime(): CardRuntime {
  const rt = new CardRuntime(manufactureCard({ masterKey: master })); // no store: state in memory only
  IssuerSecurityDomain.install(rt);
  rt.install(new EidApplet());
  return rt;
}

function send(m: Record<string, unknown>): void {
  process.send?.(m);
}

process.on('message', (m: Msg) => {
  void (async () => {
    try {
      if (m.op === 'start') {
        master = new Uint8Array(Buffer.from(m.masterKeyHex!, 'hex'));
        for (const port of m.ports ?? []) {
          const rt = new SwappableRuntime(newRuntime());
          const card = new VirtualCard({ port, runtime: rt as unknown as CardRuntime });
          await card.insert();
          cards.set(port, { card, rt });
        }
        send({ op: 'ready' });
      } else if (m.op === 'swap') {
        const c = cards.get(m.port!);
        if (!c) throw new Error(`no card on port ${m.port}`);
        c.rt.current.powerOff();
        c.rt.current = newRuntime();
        send({ op: 'swapped', port: m.port, serial: c.rt.serial });
      } else if (m.op === 'timing') {
        for (const c of cards.values()) c.card.timing = m.timing ?? undefined;
        send({ op: 'timing' });
      } else if (m.op === 'cpu') {
        const u = process.cpuUsage();
        send({ op: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000 });
      } else if (m.op === 'stop') {
        await Promise.all([...cards.values()].map((c) => c.card.remove()));
        send({ op: 'stopped' });
        process.exit(0);
      }
    } catch (e) {
      send({ op: 'error', message: (e as Error).message });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
