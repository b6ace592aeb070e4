/**
 * The PKCS#11 module, loaded and initialised once per process (PKCS#11 2.40 §5.4: C_Initialize once per
 * application; a second call returns CKR_CRYPTOKI_ALREADY_INITIALIZED).
 *
 * - C_Initialize with CKF_OS_LOCKING_OK: the library may be called from several threads (pkcs11js runs
 *   C_SignAsync on the libuv thread pool, and worker_threads each hold their own pkcs11js instance).
 * - Reference counted per module path: the last release calls C_Finalize, so a later open in the same process
 *   (tests switching SOFTHSM2_CONF) initialises afresh.
 * - In a worker thread the process is usually already initialised by another thread: the module is then
 *   "adopted" (CKR_CRYPTOKI_ALREADY_INITIALIZED is accepted) and never finalised by this thread.
 * - SoftHSM reads SOFTHSM2_CONF at C_Initialize: the entry point sets it before the first open.
 */
import pkcs11js from 'pkcs11js';
import { HsmCode, HsmError, ckrName } from './errors.ts';

export type Pkcs11 = pkcs11js.PKCS11;

export interface LoadedModule {
  readonly path: string;
  readonly p: Pkcs11;
  /** This instance called C_Initialize successfully (and will call C_Finalize). */
  readonly owner: boolean;
  refs: number;
  /** Slots where this process has logged the user in (login state is per application and token). */
  readonly loggedIn: Set<string>;
}

const loaded = new Map<string, LoadedModule>();

/** Loads and initialises the module at `path` (or returns the already loaded one) and takes a reference. */
export function acquireModule(path: string): LoadedModule {
  const have = loaded.get(path);
  if (have) {
    have.refs++;
    return have;
  }
  const p = new pkcs11js.PKCS11();
  try {
    p.load(path);
  } catch (e) {
    throw new HsmError(HsmCode.MODULE_LOAD_FAILED, `cannot load the PKCS#11 module ${path}`, {
      hint: 'Check KADI_HSM_MODULE (for SoftHSM: /usr/lib/softhsm/libsofthsm2.so, package softhsm2).',
      details: { module: path, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) },
    });
  }
  let owner = true;
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckrName(e) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      owner = false;
    } else {
      try {
        p.close();
      } catch {
        // ignore: the load itself failed half-way
      }
      throw new HsmError(HsmCode.MODULE_LOAD_FAILED, `C_Initialize of ${path} returned ${ckrName(e) ?? 'an error'}`, {
        hint: 'For SoftHSM check SOFTHSM2_CONF and that its token directory exists (kadi services start softhsm).',
        details: { module: path, ...(ckrName(e) ? { ckr: ckrName(e) } : {}) },
      });
    }
  }
  const m: LoadedModule = { path, p, owner, refs: 1, loggedIn: new Set() };
  loaded.set(path, m);
  return m;
}

/** Drops a reference; the last one finalises (if this instance initialised) and unloads the module. */
export function releaseModule(m: LoadedModule): void {
  m.refs--;
  if (m.refs > 0) return;
  loaded.delete(m.path);
  try {
    if (m.owner) m.p.C_Finalize();
  } finally {
    try {
      m.p.close();
    } catch {
      // already closed
    }
  }
}
