/**
 * A small pool of PKCS#11 sessions on one token. Sessions are opened up front (read/write, serial); the user
 * login is per application and token (PKCS#11 §6.7.1), so one C_Login covers every session of the pool.
 *
 * A PKCS#11 session runs one operation at a time: an operation takes a session for its whole
 * C_SignInit + C_Sign, and gives it back in `finally`. With synchronous signing the session is taken and
 * returned within one turn of the event loop; with C_SignAsync several signatures are in flight, one per session.
 * A session that failed with a session error is closed and replaced on the next acquire.
 */
import { HsmCode, HsmError } from './errors.ts';

export type SessionHandle = Buffer;

export class SessionPool {
  private readonly free: SessionHandle[] = [];
  private readonly all = new Set<SessionHandle>();
  private readonly waiters: Array<{ resolve: (s: SessionHandle) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  constructor(
    private readonly openSession: () => SessionHandle,
    private readonly closeSession: (s: SessionHandle) => void,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 64) throw new RangeError('session pool size must be 1..64');
  }

  /** Opens every session now (the first one is returned for the login). */
  fill(): SessionHandle {
    for (let i = this.all.size; i < this.size; i++) this.add();
    return this.free[0]!;
  }

  private add(): SessionHandle {
    const s = this.openSession();
    this.all.add(s);
    this.free.push(s);
    return s;
  }

  /** A free session without waiting, or undefined. */
  tryTake(): SessionHandle | undefined {
    if (this.closed) throw new HsmError(HsmCode.CLOSED, 'the HSM session pool is closed');
    const s = this.free.pop();
    if (s) return s;
    if (this.all.size < this.size) {
      this.add();
      return this.free.pop();
    }
    return undefined;
  }

  /** A session; waits for one to be released when all are busy. */
  acquire(): Promise<SessionHandle> {
    const s = this.tryTake();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Returns a session; `broken` closes it (it is replaced by a new one on demand). */
  release(s: SessionHandle, broken = false): void {
    if (broken || this.closed) {
      this.all.delete(s);
      try {
        this.closeSession(s);
      } catch {
        // the session is already gone
      }
      if (this.closed) return;
      const w = this.waiters.shift();
      if (w) {
        try {
          w.resolve(this.add() && this.free.pop()!);
        } catch (e) {
          w.reject(e as Error);
        }
      }
      return;
    }
    const w = this.waiters.shift();
    if (w) w.resolve(s);
    else this.free.push(s);
  }

  /** Closes every session (idle ones now; busy ones when they are released). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new HsmError(HsmCode.CLOSED, 'the HSM session pool was closed'));
    for (const s of this.free.splice(0)) {
      this.all.delete(s);
      try {
        this.closeSession(s);
      } catch {
        // already closed
      }
    }
  }

  get busy(): number {
    return this.all.size - this.free.length;
  }
}
