/**
 * Kadi's PKCS#11 adapter: key pairs generated in the token, found by CKA_LABEL (+ CKA_ID), and a
 * {@link Signer} (the pki port) whose private key operation runs in the token.
 *
 * Key templates (PKCS#11 2.40 §4.8-4.9):
 * ```
 * private key: CKA_TOKEN=true CKA_PRIVATE=true CKA_SENSITIVE=true CKA_EXTRACTABLE=false CKA_SIGN=true
 *              CKA_DECRYPT=false CKA_UNWRAP=false CKA_DERIVE=false CKA_LABEL CKA_ID
 * public key:  CKA_TOKEN=true CKA_PRIVATE=false CKA_VERIFY=true CKA_ENCRYPT=false CKA_WRAP=false CKA_LABEL CKA_ID
 *              + CKA_EC_PARAMS (DER OID of the named curve) | CKA_MODULUS_BITS=2048, CKA_PUBLIC_EXPONENT=65537
 * CKA_ID = SHA-1 of the public key (the certificate's subjectKeyIdentifier), set right after generation.
 * ```
 *
 * Signing (SoftHSM 2.6 has CKM_ECDSA but no CKM_ECDSA_SHA256; checked with C_GetMechanismList):
 * - ECDSA: SHA-256 on the host (node:crypto), C_Sign with CKM_ECDSA on the 32-octet hash, which returns raw
 *   r || s (PKCS#11 §2.3.1); converted to DER ECDSA-Sig-Value for X.509/CMS.
 * - RSA-PSS: SHA-256 on the host, CKM_RSA_PKCS_PSS with CK_RSA_PKCS_PSS_PARAMS {CKM_SHA256, CKG_MGF1_SHA256,
 *   sLen 32} on the hash (SoftHSM also has CKM_SHA256_RSA_PKCS_PSS; hashing on the host keeps one path for both
 *   key types and sends 32 octets instead of the whole input).
 *
 * By default C_Sign runs on the calling thread (measured fastest for one process: bench/sod.bench.ts);
 * `asyncSign` runs it on the libuv thread pool (C_SignAsync) so the event loop stays free, one session per
 * signature in flight.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type KeyAlgorithm, type Signer, ecSpki, ecdsaRawToDer, keyAlgorithmInfo, keyIdentifier, rsaSpki } from '../pki/index.ts';
import { HsmCode, HsmError, ckrName, wrapPkcs11 } from './errors.ts';
import { type LoadedModule, type Pkcs11, acquireModule, releaseModule } from './module.ts';
import { SessionPool, type SessionHandle } from './pool.ts';

const P = pkcs11js;

export interface HsmOptions {
  /** PKCS#11 module path (KADI_HSM_MODULE). */
  module: string;
  /** Token label (KADI_HSM_TOKEN). */
  token: string;
  /** User PIN. Never logged; not kept after login. */
  pin: string;
  /** Sessions in the pool, 1..64 (default 2). */
  sessions?: number;
  /** Run C_Sign on the libuv thread pool (C_SignAsync) instead of the calling thread (default false). */
  asyncSign?: boolean;
}

/** What the token says about a private key (attributes read through PKCS#11). */
export interface HsmKeyInfo {
  label: string;
  /** CKA_ID, lower-case hex. */
  id: string;
  keyType: 'ec' | 'rsa' | 'other';
  /** Kadi algorithm of the key, when it is one Kadi uses. */
  algorithm?: KeyAlgorithm;
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  sign: boolean;
  decrypt: boolean;
  unwrap: boolean;
  derive: boolean;
}

export interface GeneratedKeyPair {
  label: string;
  /** CKA_ID (= SHA-1 key identifier of the public key). */
  id: Uint8Array;
  algorithm: KeyAlgorithm;
  publicKeySpki: Uint8Array;
}

const CKK_RSA = 0x0;
const CKK_EC = 0x3;

const EC_PARAMS: Readonly<Record<string, Buffer>> = {
  // DER OBJECT IDENTIFIER of the named curve (CKA_EC_PARAMS = ECParameters namedCurve choice)
  'ecdsa-p256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'ecdsa-brainpoolp256r1': Buffer.from('06092b2403030208010107', 'hex'),
};

function bool(b: Buffer | undefined): boolean {
  return !!b && b.length > 0 && b[0] !== 0;
}

function ulong(b: Buffer | undefined): number {
  if (!b || b.length === 0) return -1;
  return b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0);
}

/** EC point from CKA_EC_POINT: DER OCTET STRING (PKCS#11 2.40, SoftHSM) or, from some HSMs, the raw point. */
function ecPointFromAttribute(v: Buffer, fieldBytes: number): Uint8Array {
  const rawLen = 1 + 2 * fieldBytes;
  if (v.length === rawLen && v[0] === 0x04) return new Uint8Array(v);
  if (v[0] === 0x04 && v[1] === rawLen && v.length === rawLen + 2) return new Uint8Array(v.subarray(2));
  if (v[0] === 0x04 && v[1] === 0x81 && v[2] === rawLen && v.length === rawLen + 3) return new Uint8Array(v.subarray(3));
  throw new HsmError(HsmCode.MECHANISM_UNSUPPORTED, `unexpected CKA_EC_POINT encoding (${v.length} octets)`);
}

/** The PKCS#11 adapter. Open once per process (or per worker thread), share, close at shutdown. */
export class Pkcs11Hsm {
  private readonly p: Pkcs11;
  private readonly pool: SessionPool;
  private readonly keyHandles = new Map<string, Buffer>();
  private closed = false;

  private constructor(
    private readonly mod: LoadedModule,
    private readonly slot: Buffer,
    readonly tokenLabel: string,
    sessions: number,
    readonly asyncSign: boolean,
  ) {
    this.p = mod.p;
    this.pool = new SessionPool(
      () => {
        try {
          return this.p.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
        } catch (e) {
          throw wrapPkcs11(e, 'C_OpenSession', HsmCode.SESSION_FAILED, `cannot open a session on token "${tokenLabel}"`);
        }
      },
      (s) => this.p.C_CloseSession(s),
      sessions,
    );
  }

  /** Loads the module (once per process), finds the token by label, opens the session pool and logs in. */
  static open(opts: HsmOptions): Pkcs11Hsm {
    const mod = acquireModule(opts.module);
    try {
      const slot = findToken(mod.p, opts.token);
      const hsm = new Pkcs11Hsm(mod, slot, opts.token, opts.sessions ?? 2, opts.asyncSign ?? false);
      try {
        hsm.login(opts.pin);
      } catch (e) {
        hsm.pool.close();
        throw e;
      }
      return hsm;
    } catch (e) {
      releaseModule(mod);
      throw e;
    }
  }

  private login(pin: string): void {
    const first = this.pool.fill();
    const info = this.p.C_GetTokenInfo(this.slot);
    if (info.flags & P.CKF_USER_PIN_LOCKED) {
      throw new HsmError(HsmCode.PIN_LOCKED, `the user PIN of token "${this.tokenLabel}" is locked`, { hint: 'The security officer must unlock (re-initialise) the user PIN.' });
    }
    try {
      this.p.C_Login(first, P.CKU_USER, pin);
    } catch (e) {
      const ckr = ckrName(e);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return; // another adapter or thread of this process logged in
      if (ckr === 'CKR_PIN_LOCKED') {
        throw new HsmError(HsmCode.PIN_LOCKED, `the user PIN of token "${this.tokenLabel}" is locked`, { hint: 'The security officer must unlock (re-initialise) the user PIN.' });
      }
      if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_LEN_RANGE' || ckr === 'CKR_PIN_INVALID' || ckr === 'CKR_USER_PIN_NOT_INITIALIZED') {
        throw new HsmError(HsmCode.LOGIN_FAILED, `login to token "${this.tokenLabel}" refused (${ckr})`, {
          hint: 'Check KADI_HSM_PIN / KADI_HSM_PIN_FILE. Repeated wrong PINs lock the token.',
          details: { token: this.tokenLabel, ckr },
        });
      }
      throw wrapPkcs11(e, 'C_Login', HsmCode.LOGIN_FAILED, `login to token "${this.tokenLabel}" failed`);
    }
  }

  private check(): void {
    if (this.closed) throw new HsmError(HsmCode.CLOSED, 'the HSM adapter is closed');
  }

  /** Runs `fn` with a pooled session (sessions are logged in). Low level: diagnostics and benchmarks. */
  async withSession<T>(fn: (p: Pkcs11, session: SessionHandle) => T | Promise<T>): Promise<T> {
    this.check();
    const s = this.pool.tryTake() ?? (await this.pool.acquire());
    let broken = false;
    try {
      return await fn(this.p, s);
    } catch (e) {
      broken = ckrName(e)?.startsWith('CKR_SESSION') ?? false;
      throw e;
    } finally {
      this.pool.release(s, broken);
    }
  }

  /** PKCS#11 mechanism names the token supports (CKM_...). */
  mechanisms(): string[] {
    const names = new Map<number, string>();
    for (const [k, v] of Object.entries(P)) if (k.startsWith('CKM_') && typeof v === 'number' && !names.has(v)) names.set(v, k);
    return this.p.C_GetMechanismList(this.slot).map((m) => names.get(m) ?? `0x${m.toString(16)}`);
  }

  private findObjects(s: SessionHandle, template: pkcs11js.Template, max = 2): Buffer[] {
    this.p.C_FindObjectsInit(s, template);
    try {
      return this.p.C_FindObjects(s, max);
    } finally {
      this.p.C_FindObjectsFinal(s);
    }
  }

  private findOne(s: SessionHandle, cls: number, label: string, id?: Uint8Array): Buffer | undefined {
    const t: pkcs11js.Template = [
      { type: P.CKA_CLASS, value: cls },
      { type: P.CKA_LABEL, value: label },
    ];
    if (id) t.push({ type: P.CKA_ID, value: Buffer.from(id) });
    const found = this.findObjects(s, t);
    if (found.length > 1) {
      throw new HsmError(HsmCode.KEY_EXISTS, `more than one ${cls === P.CKO_PRIVATE_KEY ? 'private' : 'public'} key labelled "${label}" on token "${this.tokenLabel}"`, {
        hint: 'Labels must be unique; remove the duplicate with the token tools.',
        details: { label },
      });
    }
    return found[0];
  }

  private keyNotFound(label: string): HsmError {
    return new HsmError(HsmCode.KEY_NOT_FOUND, `no private key labelled "${label}" on token "${this.tokenLabel}"`, {
      hint: 'Check the label with `kadi keys list`; keys are created by `kadi keys ceremony` / `kadi keys rotate-ds`.',
      details: { label, token: this.tokenLabel },
    });
  }

  /** True if the token holds a private or public key with this label. */
  async hasKey(label: string): Promise<boolean> {
    return this.withSession((p, s) => this.findObjects(s, [{ type: P.CKA_LABEL, value: label }], 1).length > 0);
  }

  /**
   * Generates a key pair in the token: private key sensitive, non-extractable, persistent (see module comment).
   * Refuses a label that is already used (HSM_KEY_EXISTS).
   */
  async generateKeyPair(label: string, algorithm: KeyAlgorithm): Promise<GeneratedKeyPair> {
    if (!label || Buffer.byteLength(label) > 64) throw new RangeError('key label must be 1..64 octets');
    const info = keyAlgorithmInfo(algorithm);
    return this.withSession((p, s) => {
      if (this.findObjects(s, [{ type: P.CKA_LABEL, value: label }], 1).length > 0) {
        throw new HsmError(HsmCode.KEY_EXISTS, `token "${this.tokenLabel}" already holds a key labelled "${label}"`, { details: { label } });
      }
      const tmpId = Buffer.from(createHash('sha1').update(`kadi:${label}:${Date.now()}:${Math.random()}`).digest());
      const common = [
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_LABEL, value: label },
        { type: P.CKA_ID, value: tmpId },
      ];
      const pub: pkcs11js.Template = [...common, { type: P.CKA_PRIVATE, value: false }, { type: P.CKA_VERIFY, value: true }, { type: P.CKA_ENCRYPT, value: false }, { type: P.CKA_WRAP, value: false }];
      const priv: pkcs11js.Template = [
        ...common,
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_SIGN, value: true },
        { type: P.CKA_DECRYPT, value: false },
        { type: P.CKA_UNWRAP, value: false },
        { type: P.CKA_DERIVE, value: false },
      ];
      let mech: number;
      if (info.kind === 'ec') {
        mech = P.CKM_EC_KEY_PAIR_GEN;
        pub.push({ type: P.CKA_EC_PARAMS, value: EC_PARAMS[algorithm]! });
      } else {
        mech = P.CKM_RSA_PKCS_KEY_PAIR_GEN;
        pub.push({ type: P.CKA_MODULUS_BITS, value: info.modulusBits! }, { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
      }
      let kp: pkcs11js.KeyPair;
      try {
        kp = p.C_GenerateKeyPair(s, { mechanism: mech }, pub, priv);
      } catch (e) {
        throw wrapPkcs11(e, 'C_GenerateKeyPair', HsmCode.KEYGEN_FAILED, `cannot generate a ${algorithm} key pair "${label}"`, { label });
      }
      const spki = this.readSpki(s, kp.publicKey, algorithm);
      const id = keyIdentifier(spki);
      try {
        p.C_SetAttributeValue(s, kp.publicKey, [{ type: P.CKA_ID, value: Buffer.from(id) }]);
        p.C_SetAttributeValue(s, kp.privateKey, [{ type: P.CKA_ID, value: Buffer.from(id) }]);
      } catch (e) {
        // Do not leave a half-made key pair behind.
        try {
          p.C_DestroyObject(s, kp.publicKey);
          p.C_DestroyObject(s, kp.privateKey);
        } catch {
          // best effort
        }
        throw wrapPkcs11(e, 'C_SetAttributeValue', HsmCode.KEYGEN_FAILED, `cannot set CKA_ID of the new key pair "${label}"`, { label });
      }
      this.keyHandles.set(label, kp.privateKey);
      return { label, id, algorithm, publicKeySpki: spki };
    });
  }

  private readSpki(s: SessionHandle, pubHandle: Buffer, algorithm: KeyAlgorithm): Uint8Array {
    const info = keyAlgorithmInfo(algorithm);
    if (info.kind === 'ec') {
      const [pt] = this.p.C_GetAttributeValue(s, pubHandle, [{ type: P.CKA_EC_POINT }]);
      return ecSpki(info.curve!.oid, ecPointFromAttribute(pt!.value, info.curve!.fieldBytes));
    }
    const [n, e] = this.p.C_GetAttributeValue(s, pubHandle, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    return rsaSpki(n!.value, e!.value);
  }

  private algorithmOf(s: SessionHandle, handle: Buffer): KeyAlgorithm | undefined {
    const [kt] = this.p.C_GetAttributeValue(s, handle, [{ type: P.CKA_KEY_TYPE }]);
    const keyType = ulong(kt!.value);
    if (keyType === CKK_EC) {
      const [params] = this.p.C_GetAttributeValue(s, handle, [{ type: P.CKA_EC_PARAMS }]);
      for (const [alg, der] of Object.entries(EC_PARAMS)) if (der.equals(params!.value)) return alg as KeyAlgorithm;
      return undefined;
    }
    if (keyType === CKK_RSA) {
      const [bits] = this.p.C_GetAttributeValue(s, handle, [{ type: P.CKA_MODULUS }]);
      return bits!.value.length === 256 ? 'rsa-pss-2048' : undefined;
    }
    return undefined;
  }

  /** The SubjectPublicKeyInfo of the key pair labelled `label`. */
  async publicKeySpki(label: string): Promise<Uint8Array> {
    return this.withSession((_p, s) => {
      const pub = this.findOne(s, P.CKO_PUBLIC_KEY, label);
      if (!pub) throw this.keyNotFound(label);
      const alg = this.algorithmOf(s, pub);
      if (!alg) throw new HsmError(HsmCode.MECHANISM_UNSUPPORTED, `key "${label}" is not of a type Kadi uses`, { details: { label } });
      return this.readSpki(s, pub, alg);
    });
  }

  /** Security attributes of the private key labelled `label`, read from the token. */
  async keyInfo(label: string): Promise<HsmKeyInfo> {
    return this.withSession((_p, s) => {
      const h = this.findOne(s, P.CKO_PRIVATE_KEY, label);
      if (!h) throw this.keyNotFound(label);
      return this.readKeyInfo(s, h);
    });
  }

  private readKeyInfo(s: SessionHandle, h: Buffer): HsmKeyInfo {
    const types = [
      P.CKA_LABEL,
      P.CKA_ID,
      P.CKA_KEY_TYPE,
      P.CKA_TOKEN,
      P.CKA_PRIVATE,
      P.CKA_SENSITIVE,
      P.CKA_EXTRACTABLE,
      P.CKA_ALWAYS_SENSITIVE,
      P.CKA_NEVER_EXTRACTABLE,
      P.CKA_SIGN,
      P.CKA_DECRYPT,
      P.CKA_UNWRAP,
      P.CKA_DERIVE,
    ];
    const v = this.p.C_GetAttributeValue(s, h, types.map((type) => ({ type })));
    const at = (t: number): Buffer | undefined => v.find((x) => x.type === t)?.value;
    const kt = ulong(at(P.CKA_KEY_TYPE));
    const alg = this.algorithmOf(s, h);
    return {
      label: at(P.CKA_LABEL)?.toString('utf8') ?? '',
      id: at(P.CKA_ID)?.toString('hex') ?? '',
      keyType: kt === CKK_EC ? 'ec' : kt === CKK_RSA ? 'rsa' : 'other',
      ...(alg ? { algorithm: alg } : {}),
      token: bool(at(P.CKA_TOKEN)),
      private: bool(at(P.CKA_PRIVATE)),
      sensitive: bool(at(P.CKA_SENSITIVE)),
      extractable: bool(at(P.CKA_EXTRACTABLE)),
      alwaysSensitive: bool(at(P.CKA_ALWAYS_SENSITIVE)),
      neverExtractable: bool(at(P.CKA_NEVER_EXTRACTABLE)),
      sign: bool(at(P.CKA_SIGN)),
      decrypt: bool(at(P.CKA_DECRYPT)),
      unwrap: bool(at(P.CKA_UNWRAP)),
      derive: bool(at(P.CKA_DERIVE)),
    };
  }

  /** Every private key on the token. */
  async listKeys(): Promise<HsmKeyInfo[]> {
    return this.withSession((_p, s) => this.findObjects(s, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }], 10_000).map((h) => this.readKeyInfo(s, h)));
  }

  /** Destroys both halves of the key pair labelled `label` (rolling back a failed ceremony). */
  async destroyKeyPair(label: string): Promise<void> {
    await this.withSession((p, s) => {
      for (const h of this.findObjects(s, [{ type: P.CKA_LABEL, value: label }], 10)) p.C_DestroyObject(s, h);
    });
    this.keyHandles.delete(label);
  }

  /** The private key handle for `label` (cached; valid for every session of this application). */
  async privateKeyHandle(label: string, refresh = false): Promise<Buffer> {
    const have = this.keyHandles.get(label);
    if (have && !refresh) return have;
    const h = await this.withSession((_p, s) => this.findOne(s, P.CKO_PRIVATE_KEY, label));
    if (!h) throw this.keyNotFound(label);
    this.keyHandles.set(label, h);
    return h;
  }

  /** A Signer for the key pair labelled `label` (its algorithm is read from the token). */
  async signer(label: string): Promise<HsmSigner> {
    const handle = await this.privateKeyHandle(label);
    const algorithm = await this.withSession((_p, s) => this.algorithmOf(s, handle));
    if (!algorithm) throw new HsmError(HsmCode.MECHANISM_UNSUPPORTED, `key "${label}" is not of a type Kadi signs with`, { details: { label } });
    const spki = await this.publicKeySpki(label);
    return new HsmSigner(this, label, algorithm, spki, handle);
  }

  /**
   * Signs `data` with the key pair labelled `label` (the pki Signer contract: hashed on the host, DER ECDSA or
   * raw RSA-PSS signature). For many signatures keep the {@link signer} instead (key lookup done once).
   */
  async sign(label: string, data: Uint8Array): Promise<Uint8Array> {
    return (await this.signer(label)).sign(data);
  }

  /** @internal one signature with the private key `handle` on a pooled session. */
  signHash(label: string, handle: Buffer, mech: pkcs11js.Mechanism, hash: Buffer, outLen: number): Buffer | Promise<Buffer> {
    this.check();
    const s = this.asyncSign ? undefined : this.pool.tryTake();
    if (s) {
      // Synchronous path: the session is taken and released within this call.
      let broken = false;
      try {
        this.p.C_SignInit(s, mech, handle);
        return this.p.C_Sign(s, hash, Buffer.allocUnsafe(outLen));
      } catch (e) {
        broken = ckrName(e)?.startsWith('CKR_SESSION') ?? false;
        throw wrapPkcs11(e, 'C_Sign', HsmCode.SIGN_FAILED, `signing with key "${label}" failed`, { label });
      } finally {
        this.pool.release(s, broken);
      }
    }
    return this.signAsync(label, handle, mech, hash, outLen);
  }

  private async signAsync(label: string, handle: Buffer, mech: pkcs11js.Mechanism, hash: Buffer, outLen: number): Promise<Buffer> {
    const s = await this.pool.acquire();
    let broken = false;
    try {
      this.p.C_SignInit(s, mech, handle);
      return await this.p.C_SignAsync(s, hash, Buffer.allocUnsafe(outLen));
    } catch (e) {
      broken = ckrName(e)?.startsWith('CKR_SESSION') ?? false;
      throw wrapPkcs11(e, 'C_Sign', HsmCode.SIGN_FAILED, `signing with key "${label}" failed`, { label });
    } finally {
      this.pool.release(s, broken);
    }
  }

  /** Closes the sessions (logging out when they were this application's last) and releases the module. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    this.keyHandles.clear();
    releaseModule(this.mod);
  }
}

/** A {@link Signer} whose private key stays in the token. */
export class HsmSigner implements Signer {
  private readonly mech: pkcs11js.Mechanism;
  private readonly outLen: number;
  private readonly ec: boolean;
  private readonly hashName: string;

  constructor(
    private readonly hsm: Pkcs11Hsm,
    readonly label: string,
    readonly algorithm: KeyAlgorithm,
    readonly publicKeySpki: Uint8Array,
    private handle: Buffer,
  ) {
    const info = keyAlgorithmInfo(algorithm);
    this.hashName = info.hash;
    this.ec = info.kind === 'ec';
    if (this.ec) {
      this.mech = { mechanism: P.CKM_ECDSA };
      this.outLen = 2 * info.curve!.fieldBytes;
    } else {
      this.mech = { mechanism: P.CKM_RSA_PKCS_PSS, parameter: { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: info.pssSaltLength! } as pkcs11js.RsaPSS };
      this.outLen = info.modulusBits! / 8;
    }
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const hash = oneShotHash(this.hashName, data, 'buffer');
    let raw: Buffer;
    try {
      raw = await this.hsm.signHash(this.label, this.handle, this.mech, hash, this.outLen);
    } catch (e) {
      const ckr = e instanceof HsmError ? (e.details?.ckr as string | undefined) : undefined;
      if (ckr !== 'CKR_KEY_HANDLE_INVALID' && ckr !== 'CKR_OBJECT_HANDLE_INVALID') throw e;
      // The token was reloaded: find the key again once.
      this.handle = await this.hsm.privateKeyHandle(this.label, true);
      raw = await this.hsm.signHash(this.label, this.handle, this.mech, hash, this.outLen);
    }
    return this.ec ? ecdsaRawToDer(raw) : new Uint8Array(raw);
  }
}

function findToken(p: Pkcs11, label: string): Buffer {
  let slots: Buffer[];
  try {
    slots = p.C_GetSlotList(true);
  } catch (e) {
    throw wrapPkcs11(e, 'C_GetSlotList', HsmCode.TOKEN_NOT_FOUND, 'cannot list PKCS#11 slots');
  }
  const labels: string[] = [];
  for (const s of slots) {
    const l = p.C_GetTokenInfo(s).label.replace(/\s+$/, '');
    if (l === label) return s;
    if (l) labels.push(l);
  }
  throw new HsmError(HsmCode.TOKEN_NOT_FOUND, `no token labelled "${label}" (found: ${labels.length ? labels.map((l) => `"${l}"`).join(', ') : 'none'})`, {
    hint: 'Check KADI_HSM_TOKEN and SOFTHSM2_CONF, or create the token: `kadi services start softhsm`.',
    details: { token: label, available: labels },
  });
}
