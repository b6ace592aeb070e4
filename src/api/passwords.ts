/**
 * Password hashing with scrypt (RFC 7914, node:crypto). The stored string carries its parameters, so the cost can
 * be raised later without breaking existing hashes:
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt, base64url, 16 octets>$<hash, base64url, 32 octets>
 *
 * Default cost N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms on a server core): OWASP's minimum for scrypt is
 * N = 2^17 with r = 8, p = 1 *or* an equivalent trade; 2^15 keeps a login below 0.1 s on the 2-core reference
 * box. Verification is constant time (timingSafeEqual) and a login for an unknown user hashes against a dummy
 * value so that response times do not reveal which user names exist.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ValidationError } from '../shared/index.ts';

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export interface ScryptCost {
  /** log2 of N (CPU/memory cost), 10..20. */
  logN: number;
  r: number;
  p: number;
}

export const DEFAULT_COST: ScryptCost = { logN: 15, r: 8, p: 1 };
const KEYLEN = 32;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

function maxmem(c: ScryptCost): number {
  return 128 * 2 ** c.logN * c.r * c.p + 16 * 1024 * 1024;
}

export function checkPasswordPolicy(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new ValidationError('PASSWORD_POLICY', `a password is ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`, {
      hint: 'Use a long passphrase, or let Kadi generate one.',
    });
  }
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N: 2 ** cost.logN, r: cost.r, p: cost.p, maxmem: maxmem(cost) });
  return `scrypt$${cost.logN}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const FORMAT = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/;

/** True when `password` matches `stored`. A malformed stored value never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m) return false;
  const cost = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (cost.logN < 10 || cost.logN > 20 || cost.r < 1 || cost.p < 1) return false;
  const salt = Buffer.from(m[4]!, 'base64url');
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scrypt(password, salt, expected.length, { N: 2 ** cost.logN, r: cost.r, p: cost.p, maxmem: maxmem(cost) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let dummy: Promise<string> | undefined;
/** Spends the same time as a real verification; used when the user does not exist. */
export async function burnVerification(password: string): Promise<void> {
  dummy ??= hashPassword('kadi-dummy-password-never-matches');
  await verifyPassword(password, await dummy);
}

/** A random password for a new or reset account: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
