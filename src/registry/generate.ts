/**
 * Deterministic synthetic registry: a stream of enrolment records that look like a Kenyan national e-ID
 * roll-out, with a controlled share of bad records for intake to reject.
 *
 * Determinism: record `id` is a pure function of (seed, id, referenceDate) — each record draws from its own
 * `Rng` — except `duplicate_national_number` records, which reuse a number seen earlier in the same stream
 * (or passed in `earlierNationalNumbers`). Nothing reads the wall clock: ages, approval times and "future"
 * dates are relative to `referenceDate`.
 *
 * Streaming: `generateRecords` is a generator; only a ring of recent national numbers (for duplicates) is
 * kept, so 100k records never sit in memory.
 */
import { crc32 } from 'node:zlib';
import { Rng, ValidationError } from '../shared/index.ts';
import { CHRISTIAN_FEMALE, CHRISTIAN_MALE, pickCommunity, type Community } from './names.ts';
import {
  CENTRES_BY_COUNTY, COLLECTION_CENTRES, COUNTIES, COUNTY_BY_CODE, ESTATES, FOREIGN_BIRTHPLACES, STREETS,
  type County,
} from './places.ts';
import { generateOversizedPhoto, generatePhoto } from './photo.ts';
import { DEFECT_KINDS, type DefectKind, type EnrolmentRecord } from './types.ts';

/** Default reference date ("today" for the synthetic population): ages are 18–90 on this date. */
export const DEFAULT_REFERENCE_DATE = '2025-07-01';
/** Default share of records that are PENDING or REJECTED rather than APPROVED. */
export const DEFAULT_NON_APPROVED_RATE = 0.01;

export interface GenerateOptions {
  /** Number of records to produce (integer ≥ 0). */
  count: number;
  /** Seed: the same seed (and options) always gives the same records. */
  seed: number | string;
  /** Share of records with one planted defect, 0..1 (default 0). Kinds are chosen evenly. */
  invalidRate?: number;
  /** registryId of the first record (integer ≥ 1, default 1); ids are consecutive. */
  startId?: number;
  /** "Today" for the population, YYYY-MM-DD (default DEFAULT_REFERENCE_DATE). Validate with today ≥ this. */
  referenceDate?: string;
  /** Share of PENDING/REJECTED records, 0..1 (default 0.01). Independent of defects. */
  nonApprovedRate?: number;
  /** National numbers already in the registry, so duplicates can also hit records from an earlier run. */
  earlierNationalNumbers?: readonly string[];
}

/** Required text fields a `missing_field` defect may blank out. */
export const MISSING_FIELD_CANDIDATES = [
  'nationalNumber', 'surname', 'givenNames', 'sex', 'dateOfBirth', 'placeOfBirth', 'county', 'address',
  'kraPin', 'collectionCentre',
] as const;

/**
 * Characters no ICAO 9303 transliteration covers: CJK, emoji, a flag, control characters, symbols, a
 * zero-width space. No NUL: PostgreSQL text cannot store U+0000, and the registry must hold every bad record.
 */
export const BAD_CHARACTERS = ['王', '明', '李', '😀', '🙏', '🇰🇪', '\u0007', '\u0001', '\u001b', '\u007f', '™', '@', '#', '\ufffd', '\u200b'];

const RING_SIZE = 1024;

/** Streams `count` records. Throws ValidationError on bad options. */
export function* generateRecords(opts: GenerateOptions): Generator<EnrolmentRecord, void, undefined> {
  const count = opts.count;
  const invalidRate = opts.invalidRate ?? 0;
  const nonApprovedRate = opts.nonApprovedRate ?? DEFAULT_NON_APPROVED_RATE;
  const startId = opts.startId ?? 1;
  const ref = opts.referenceDate ?? DEFAULT_REFERENCE_DATE;
  if (!Number.isInteger(count) || count < 0) throw optionError('count must be an integer >= 0');
  if (!Number.isInteger(startId) || startId < 1) throw optionError('startId must be an integer >= 1');
  if (!(invalidRate >= 0 && invalidRate <= 1)) throw optionError('invalidRate must be between 0 and 1');
  if (!(nonApprovedRate >= 0 && nonApprovedRate <= 1)) throw optionError('nonApprovedRate must be between 0 and 1');
  const refDay = parseDay(ref);
  if (refDay === null) throw optionError('referenceDate must be a valid YYYY-MM-DD date');

  const ring: string[] = (opts.earlierNationalNumbers ?? []).filter((n) => /^\d{8}$/.test(n)).slice(-RING_SIZE);
  let ringPos = ring.length % RING_SIZE;
  for (let i = 0; i < count; i++) {
    const id = startId + i;
    const rec = generateOne(opts.seed, id, refDay, invalidRate, nonApprovedRate, ring);
    if (rec.defect === undefined && rec.status === 'APPROVED' && rec.nationalNumber) {
      if (ring.length < RING_SIZE) ring.push(rec.nationalNumber);
      else ring[ringPos] = rec.nationalNumber;
      ringPos = (ringPos + 1) % RING_SIZE;
    }
    yield rec;
  }
}

function optionError(message: string): ValidationError {
  return new ValidationError('REGISTRY_OPTIONS_INVALID', message);
}

// ---------------------------------------------------------------------------------------------- numbers

const NN_BASE = 10_000_000;
const NN_SPAN = 90_000_000;
const FEISTEL_KEYS = [0x5bd1e995, 0x1b873593, 0xcc9e2d51, 0x27d4eb2f];

function feistel28(x: number): number {
  let l = x >>> 14;
  let r = x & 0x3fff;
  for (let i = 0; i < 4; i++) {
    let h = Math.imul(r ^ FEISTEL_KEYS[i]!, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    const nl = r;
    r = (l ^ h) & 0x3fff;
    l = nl;
  }
  return (l << 14) | r;
}

/**
 * The national number of a registry id: an 8-digit number (10000000–99999999) from a fixed keyed
 * permutation (a 28-bit Feistel network with cycle walking), so numbers look random but two ids below
 * 90 000 001 never share one — whatever the seed, and across repeated seeding runs.
 */
export function nationalNumberFor(registryId: number): string {
  let x = (registryId - 1) % NN_SPAN;
  if (x < 0) x += NN_SPAN;
  do x = feistel28(x);
  while (x >= NN_SPAN);
  return String(NN_BASE + x);
}

function digits(rng: Rng, n: number): string {
  let s = String(rng.int(1, 9));
  for (let i = 1; i < n; i++) s += String(rng.int(0, 9));
  return s;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

// ------------------------------------------------------------------------------------------------ dates

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 for a valid YYYY-MM-DD, else null. */
function parseDay(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
  const t = Date.UTC(y, mo - 1, d);
  const dt = new Date(t);
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return null;
  return Math.round(t / DAY_MS);
}

function formatDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

// ------------------------------------------------------------------------------------------------ people

const URBAN_COUNTIES = ['047', '047', '047', '047', '001', '032', '022', '022', '042', '027', '034', '016'];
const ALL_COUNTY_CODES = COUNTIES.map((c) => c.code);

function townOf(rng: Rng, county: County): string {
  // the main town is as likely as all the others together
  return rng.chance(0.5) ? county.towns[0]!.name : rng.pick(county.towns).name;
}

function pickName(rng: Rng, list: readonly string[], avoid?: string): string {
  let n = rng.pick(list);
  if (n === avoid) n = rng.pick(list);
  return n;
}

function composeNames(rng: Rng, c: Community, sex: 'M' | 'F'): { surname: string; givenNames: string } {
  const own = sex === 'M' ? c.male : c.female;
  const surname = rng.pick(c.surnames);
  let given: string[];
  if (c.style === 'muslim') {
    // own name + father's name; the surname is the grandfather's name
    given = [rng.pick(own), pickName(rng, c.male, surname)];
  } else if (c.style === 'christian') {
    const christian = sex === 'M' ? CHRISTIAN_MALE : CHRISTIAN_FEMALE;
    const r = rng.next();
    if (r < 0.7) given = [rng.pick(christian), pickName(rng, own, surname)];
    else if (r < 0.85) given = [pickName(rng, own, surname)];
    else given = [rng.pick(christian)];
  } else {
    given = rng.chance(0.7) ? [rng.pick(own)] : [rng.pick(own), pickName(rng, own)];
  }
  return { surname, givenNames: [...new Set(given)].join(' ') };
}

/** Long names: several given names (and often a double-barrelled surname) until the MRZ name line overflows. */
function lengthen(rng: Rng, c: Community, sex: 'M' | 'F', n: { surname: string; givenNames: string }): void {
  const own = sex === 'M' ? c.male : c.female;
  const christian = sex === 'M' ? CHRISTIAN_MALE : CHRISTIAN_FEMALE;
  if (rng.chance(0.5)) n.surname = `${n.surname}-${pickName(rng, c.surnames, n.surname)}`;
  const given = n.givenNames.split(' ');
  for (let guard = 0; n.surname.length + 2 + given.join(' ').length < 36 && given.length < 6 && guard < 50; guard++) {
    const next = rng.chance(0.5) ? rng.pick(own) : rng.pick(c.style === 'christian' ? christian : own);
    if (!given.includes(next)) given.push(next);
  }
  n.givenNames = given.join(' ');
}

function address(rng: Rng, county: County): string {
  const town = townOf(rng, county);
  const postal = county.towns.find((t) => t.name === town)!.postalCode;
  const r = rng.next();
  if (r < 0.62) return `P.O. Box ${rng.int(1, 9999)}-${postal}, ${town}`;
  const estates = ESTATES[town];
  if (estates && r < 0.9) {
    return rng.chance(0.5)
      ? `House No. ${rng.int(1, 450)}, ${rng.pick(estates)} Estate, ${town}`
      : `${rng.pick(STREETS)}, ${rng.pick(estates)}, ${town}`;
  }
  return `Plot ${rng.int(1, 2400)}/${rng.int(1, 99)}, ${town}`;
}

interface Person {
  rec: EnrolmentRecord;
  age: number;
}

function person(rng: Rng, id: number, refDay: number): Person {
  const c = pickCommunity(rng.next());
  const sr = rng.next();
  const sex = sr < 0.003 ? 'X' : sr < 0.4985 ? 'M' : 'F';
  const nameSex: 'M' | 'F' = sex === 'X' ? (rng.chance(0.5) ? 'M' : 'F') : sex;
  const names = composeNames(rng, c, nameSex);
  const feature = rng.next();
  if (feature < 0.05) lengthen(rng, c, nameSex, names);
  else if (feature < 0.08) {
    // double-barrelled surname (often a married woman keeping her own name), or hyphenated given name
    const other = rng.chance(0.3) ? pickCommunity(rng.next()) : c;
    names.surname = `${names.surname}-${pickName(rng, other.surnames, names.surname)}`;
  }

  const home = c.homeCounties.length > 0 ? c.homeCounties : URBAN_COUNTIES;
  const cr = rng.next();
  const countyCode = cr < 0.62 ? rng.pick(home) : cr < 0.87 ? rng.pick(URBAN_COUNTIES) : rng.pick(ALL_COUNTY_CODES);
  const county = COUNTY_BY_CODE.get(countyCode)!;

  let placeOfBirth: string;
  if (c.bornAbroad && rng.chance(c.bornAbroad)) placeOfBirth = rng.pick(FOREIGN_BIRTHPLACES);
  else {
    const bc = rng.chance(0.8) ? rng.pick(home) : rng.pick(ALL_COUNTY_CODES);
    placeOfBirth = townOf(rng, COUNTY_BY_CODE.get(bc)!);
  }

  // Age 18–90, skewed young like Kenya's adult population (median about 36).
  const age = 18 + Math.floor(73 * Math.pow(rng.next(), 1.8));
  const refDate = new Date(refDay * DAY_MS);
  const lastBirthday = Math.round(
    Date.UTC(refDate.getUTCFullYear() - age, refDate.getUTCMonth(), refDate.getUTCDate()) / DAY_MS,
  );
  const dob = lastBirthday - rng.int(0, 363);

  const centres = CENTRES_BY_COUNTY.get(county.name)!;
  const centre = rng.chance(0.9) ? rng.pick(centres) : rng.pick(COLLECTION_CENTRES);

  // approved within the 18 months before the reference date, during office hours (EAT = UTC+3)
  const approvedDay = refDay - rng.int(1, 540);
  const approvedMs = approvedDay * DAY_MS + rng.int(4 * 3600, 15 * 3600) * 1000;
  const updatedMs = rng.chance(0.7) ? approvedMs : Math.min(approvedMs + rng.int(60, 30 * 86400) * 1000, refDay * DAY_MS);

  const rec: EnrolmentRecord = {
    registryId: id,
    nationalNumber: nationalNumberFor(id),
    surname: names.surname,
    givenNames: names.givenNames,
    sex,
    dateOfBirth: formatDay(dob),
    placeOfBirth,
    county: county.name,
    address: address(rng, county),
    nhifNumber: rng.chance(0.88) ? digits(rng, rng.int(7, 8)) : null,
    nssfNumber: rng.chance(0.55) ? digits(rng, 9) : null,
    kraPin: `A0${String(rng.int(0, 99_999_999)).padStart(8, '0')}${LETTERS[rng.int(0, 25)]}`,
    collectionCentre: centre.code,
    photo: null,
    status: 'APPROVED',
    approvedAt: new Date(approvedMs).toISOString(),
    updatedAt: new Date(updatedMs).toISOString(),
  };
  return { rec, age };
}

function generateOne(
  seed: number | string, id: number, refDay: number, invalidRate: number, nonApprovedRate: number,
  ring: readonly string[],
): EnrolmentRecord {
  const base = new Rng(`kadi-registry:${seed}:${id}`);
  const personRng = base.fork('person');
  const photoRng = base.fork('photo');
  const defectRng = base.fork('defect');
  const statusRng = base.fork('status');

  const { rec, age } = person(personRng, id, refDay);

  let defect: DefectKind | undefined;
  if (defectRng.chance(invalidRate)) {
    defect = defectRng.pick(DEFECT_KINDS);
    if (defect === 'duplicate_national_number' && ring.length === 0) {
      defect = defectRng.pick(DEFECT_KINDS.filter((k) => k !== 'duplicate_national_number'));
    }
  }
  if (defect !== 'photo_oversized') rec.photo = generatePhoto(photoRng, { age, sex: rec.sex ?? undefined });

  if (statusRng.chance(nonApprovedRate)) {
    rec.status = statusRng.chance(0.6) ? 'PENDING' : 'REJECTED';
    rec.approvedAt = null;
  }

  if (defect) {
    plantDefect(defectRng, rec, defect, refDay, ring, photoRng);
    rec.defect = defect;
  }
  return rec;
}

// ---------------------------------------------------------------------------------------------- defects

function plantDefect(
  rng: Rng, rec: EnrolmentRecord, kind: DefectKind, refDay: number, ring: readonly string[], photoRng: Rng,
): void {
  switch (kind) {
    case 'missing_field': {
      const field = rng.pick(MISSING_FIELD_CANDIDATES);
      rec[field] = rng.pick([null, '', '   ']);
      return;
    }
    case 'impossible_date':
      rec.dateOfBirth = impossibleDate(rng, rec.dateOfBirth!, refDay);
      return;
    case 'photo_oversized':
      rec.photo = generateOversizedPhoto(photoRng);
      return;
    case 'photo_not_image':
      rec.photo = notAnImage(rng, rec.photo!);
      return;
    case 'duplicate_national_number':
      rec.nationalNumber = rng.pick(ring);
      return;
    case 'bad_characters': {
      const field = rng.pick(['surname', 'givenNames', 'placeOfBirth'] as const);
      const v = rec[field]!;
      const at = rng.int(0, v.length);
      rec[field] = v.slice(0, at) + rng.pick(BAD_CHARACTERS) + v.slice(at);
      return;
    }
  }
}

/** A date of birth that is malformed, not a calendar date, or in the future of the reference date. */
function impossibleDate(rng: Rng, valid: string, refDay: number): string {
  const y = Number(valid.slice(0, 4));
  const mm = valid.slice(5, 7);
  const dd = valid.slice(8, 10);
  switch (rng.int(0, 8)) {
    case 0: return `${y}-02-30`;
    case 1: return `${y}-02-31`;
    case 2: return `${y}-13-${dd}`;
    case 3: return `${y}-00-${dd}`;
    case 4: return `${y}-${rng.pick(['04', '06', '09', '11'])}-31`;
    case 5: return `${isLeap(y) ? y + 1 : y}-02-29`;
    case 6: return `${y}-${mm}-00`;
    case 7: return formatDay(refDay + rng.int(1, 3650));
    default: return `${dd}/${mm}/${y}`;
  }
}

/** Bytes that are not a JPEG: noise, a PNG, text, a truncated JPEG, or a JPEG shell around garbage. */
function notAnImage(rng: Rng, jpeg: Buffer): Buffer {
  switch (rng.int(0, 4)) {
    case 0: {
      const b = Buffer.alloc(rng.int(2000, 30000));
      for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255);
      return b;
    }
    case 1:
      return tinyPng(rng);
    case 2:
      return Buffer.from(
        rng.pick([
          'PHOTO NOT AVAILABLE\n',
          '<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n',
          'data:image/jpeg;base64,\n',
        ]),
        'utf8',
      );
    case 3:
      return Buffer.from(jpeg.subarray(0, Math.floor(jpeg.length * (0.3 + rng.next() * 0.5))));
    default: {
      const b = Buffer.alloc(rng.int(1000, 8000));
      for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255);
      b[0] = 0xff;
      b[1] = 0xd8;
      b[2] = 0x00; // not a marker: structurally broken right after SOI
      b[b.length - 2] = 0xff;
      b[b.length - 1] = 0xd9;
      return b;
    }
  }
}

/** A real (tiny, uncompressed-deflate) PNG: what a registry export might hold instead of a JPEG. */
function tinyPng(rng: Rng): Buffer {
  const w = 32, h = 40;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  const shade = rng.int(120, 240);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.fill(shade - ((x + y) & 15), y * (w * 3 + 1) + 1 + x * 3, y * (w * 3 + 1) + 4 + x * 3);
  }
  // zlib stream with one stored deflate block (RFC 1950/1951)
  const z = Buffer.alloc(2 + 5 + raw.length + 4);
  z[0] = 0x78;
  z[1] = 0x01;
  z[2] = 0x01;
  z.writeUInt16LE(raw.length, 3);
  z.writeUInt16LE(~raw.length & 0xffff, 5);
  raw.copy(z, 7);
  z.writeUInt32BE(adler32(raw), 7 + raw.length);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', z),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function adler32(b: Uint8Array): number {
  let a = 1, s = 0;
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]!) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}
