/**
 * BER-TLV parser that keeps the bytes it read.
 *
 * Every {@link TlvNode} carries `raw` (tag + length + value exactly as read, end-of-contents included for the
 * indefinite form) and `value` (the value field as read). Both are views (`subarray`) of the input buffer, not
 * copies: hash and verify `raw`, never a re-encoding (a re-encoded DG14 or SOD is not guaranteed to be the same
 * bytes). Copy with `slice()` if the input buffer will be reused.
 *
 * Rules applied (ISO/IEC 7816-4 §5.2, X.690 §8.1):
 * - tags of 1 to 4 bytes, see {@link readTag};
 * - short and long definite lengths; long forms that are not minimal are accepted unless `strictDer`;
 * - the indefinite length form ('80' … '00 00') is rejected (`INDEFINITE_LENGTH`) unless `allowIndefinite`:
 *   ICAO LDS data groups use definite lengths only; only foreign CMS (e.g. some EF.SOD) use it, and never on a
 *   primitive encoding (`INDEFINITE_PRIMITIVE`);
 * - a value running past its parent (or the buffer) is `LENGTH_EXCEEDS_DATA`;
 * - constructed encodings are parsed recursively, so any malformed child fails the whole parse.
 */
import { bytesEqual } from '../shared/index.ts';
import { LENGTH_INDEFINITE, isConstructedTag, readLength, readTag, tagClass, type TagClass } from './ber.ts';
import { TlvError, malformed, tagHex } from './errors.ts';

export interface TlvParseOptions {
  /** Accept the BER indefinite length form on constructed encodings. Default `false` (LDS forbids it). */
  allowIndefinite?: boolean;
  /** DER: reject non-minimal long-form lengths (and the indefinite form). Default `false`. */
  strictDer?: boolean;
  /** Parse the children of constructed encodings. Default `true`; `false` leaves `children` empty. */
  recurse?: boolean;
  /** Maximum nesting depth of constructed encodings. Default 64. */
  maxDepth?: number;
  /**
   * Skip '00' and 'FF' bytes before, between and after top-level data objects (ISO/IEC 7816-4 §5.2.2 allows
   * them as padding in files). Only applies to {@link parseTlvList}. Default `false`.
   */
  skipPadding?: boolean;
}

const DEFAULT_MAX_DEPTH = 64;

/** One parsed data object. */
export class TlvNode {
  /** Children of a constructed node (empty for a primitive node or when parsed with `recurse: false`). */
  readonly children: TlvNode[] = [];

  constructor(
    /** Tag number, big-endian bytes of the tag field (`0x5F1F`). */
    readonly tag: number,
    /** Offset of the first tag byte in the parsed buffer. */
    readonly offset: number,
    /** Bytes of tag + length fields. */
    readonly headerLength: number,
    /** The value field as read (view of the input). */
    readonly value: Uint8Array,
    /** Tag, length, value (and end-of-contents for the indefinite form) as read (view of the input). */
    readonly raw: Uint8Array,
    /** The length was written in the indefinite form. */
    readonly indefinite: boolean,
    /** The length was written in a longer form than needed (BER, not DER). */
    readonly nonMinimalLength: boolean,
  ) {}

  get constructed(): boolean {
    return isConstructedTag(this.tag);
  }

  get tagClass(): TagClass {
    return tagClass(this.tag);
  }

  /** Length of the value field. */
  get length(): number {
    return this.value.length;
  }

  /** Offset just after this node (after its end-of-contents for the indefinite form). */
  get end(): number {
    return this.offset + this.raw.length;
  }

  /** First child with this tag. */
  child(tag: number): TlvNode | undefined {
    for (const c of this.children) if (c.tag === tag) return c;
    return undefined;
  }

  /** First child with this tag, or `TLV_MISSING`. */
  requireChild(tag: number): TlvNode {
    const c = this.child(tag);
    if (!c) throw missing([tag], this.tag);
    return c;
  }

  /** All children with this tag, in order. */
  childrenWithTag(tag: number): TlvNode[] {
    return this.children.filter((c) => c.tag === tag);
  }
}

function missing(path: readonly number[], parent?: number): TlvError {
  const p = path.map(tagHex).join('/');
  return new TlvError(
    'TLV_MISSING',
    'MISSING',
    `required data object ${p} not found${parent === undefined ? '' : ` in ${tagHex(parent)}`}`,
  );
}

interface Ctx {
  bytes: Uint8Array;
  allowIndefinite: boolean;
  strictDer: boolean;
  recurse: boolean;
  maxDepth: number;
}

function ctxOf(bytes: Uint8Array, o: TlvParseOptions): Ctx {
  return {
    bytes,
    allowIndefinite: (o.allowIndefinite ?? false) && !(o.strictDer ?? false),
    strictDer: o.strictDer ?? false,
    recurse: o.recurse ?? true,
    maxDepth: o.maxDepth ?? DEFAULT_MAX_DEPTH,
  };
}

function isEoc(bytes: Uint8Array, at: number, end: number): boolean {
  return at + 1 < end && bytes[at] === 0 && bytes[at + 1] === 0;
}

/** Parses one node starting at `offset`, not reading beyond `end`. */
function parseNode(ctx: Ctx, offset: number, end: number, depth: number): TlvNode {
  const { bytes } = ctx;
  if (depth > ctx.maxDepth) throw malformed('TOO_DEEP', offset, `nesting deeper than ${ctx.maxDepth}`);
  const t = readTag(bytes, offset, end);
  const lenAt = offset + t.size;
  const l = readLength(bytes, lenAt, end);
  const valueStart = lenAt + l.size;
  const constructed = isConstructedTag(t.tag);

  if (l.indefinite) {
    if (!ctx.allowIndefinite) {
      throw malformed('INDEFINITE_LENGTH', lenAt, `indefinite length (${LENGTH_INDEFINITE.toString(16)}) not allowed`);
    }
    if (!constructed) throw malformed('INDEFINITE_PRIMITIVE', lenAt, 'indefinite length on a primitive encoding');
    // Children up to the end-of-contents octets '00 00'.
    const kids: TlvNode[] = [];
    let at = valueStart;
    for (;;) {
      if (at >= end) throw malformed('MISSING_END_OF_CONTENTS', offset, 'indefinite length without end-of-contents');
      if (isEoc(bytes, at, end)) break;
      const k = parseNode(ctx, at, end, depth + 1);
      kids.push(k);
      at = k.end;
    }
    const node = new TlvNode(
      t.tag,
      offset,
      t.size + l.size,
      bytes.subarray(valueStart, at),
      bytes.subarray(offset, at + 2),
      true,
      false,
    );
    if (ctx.recurse) node.children.push(...kids);
    return node;
  }

  if (ctx.strictDer && l.nonMinimal) throw malformed('LENGTH_NOT_MINIMAL', lenAt, 'length not in minimal form (DER)');
  const valueEnd = valueStart + l.length;
  if (valueEnd > end) {
    throw malformed('LENGTH_EXCEEDS_DATA', lenAt, `length ${l.length} exceeds the ${end - valueStart} bytes available`);
  }
  const node = new TlvNode(
    t.tag,
    offset,
    t.size + l.size,
    bytes.subarray(valueStart, valueEnd),
    bytes.subarray(offset, valueEnd),
    false,
    l.nonMinimal,
  );
  if (constructed && ctx.recurse) {
    let at = valueStart;
    while (at < valueEnd) {
      const k = parseNode(ctx, at, valueEnd, depth + 1);
      node.children.push(k);
      at = k.end;
    }
  }
  return node;
}

/** Parses one data object at `offset` of `bytes` (bytes after it are ignored; see `node.end`). */
export function parseTlvAt(bytes: Uint8Array, offset = 0, opts: TlvParseOptions = {}): TlvNode {
  return parseNode(ctxOf(bytes, opts), offset, bytes.length, 0);
}

/** Parses exactly one data object spanning all of `bytes`; trailing bytes are `TRAILING_DATA`. */
export function parseTlv(bytes: Uint8Array, opts: TlvParseOptions = {}): TlvNode {
  if (bytes.length === 0) throw malformed('EMPTY', 0, 'no data');
  const node = parseNode(ctxOf(bytes, opts), 0, bytes.length, 0);
  if (node.end !== bytes.length) {
    throw malformed('TRAILING_DATA', node.end, `${bytes.length - node.end} bytes after the data object`);
  }
  return node;
}

/** Parses a concatenation of data objects filling all of `bytes` (an empty input gives an empty list). */
export function parseTlvList(bytes: Uint8Array, opts: TlvParseOptions = {}): TlvNode[] {
  const ctx = ctxOf(bytes, opts);
  const pad = opts.skipPadding ?? false;
  const out: TlvNode[] = [];
  let at = 0;
  for (;;) {
    if (pad) while (at < bytes.length && (bytes[at] === 0x00 || bytes[at] === 0xff)) at++;
    if (at >= bytes.length) break;
    const n = parseNode(ctx, at, bytes.length, 0);
    out.push(n);
    at = n.end;
  }
  return out;
}

/**
 * Parses a data object and checks its tag (`UNEXPECTED_TAG` otherwise). The usual entry point for a data group:
 * `parseTlvExpect(bytes, DG1_TAG)`.
 */
export function parseTlvExpect(bytes: Uint8Array, tag: number, opts: TlvParseOptions = {}): TlvNode {
  const node = parseTlv(bytes, opts);
  if (node.tag !== tag) {
    throw malformed('UNEXPECTED_TAG', 0, `expected tag ${tagHex(tag)}, found ${tagHex(node.tag)}`);
  }
  return node;
}

/**
 * Follows a tag path downwards. From a node, `path[0]` is looked up among its children; from a list, among the
 * list. Returns the first match at each level, or `undefined`.
 * Example: `findPath(dg2, [0x7F61, 0x7F60, 0x5F2E])`.
 */
export function findPath(start: TlvNode | readonly TlvNode[], path: readonly number[]): TlvNode | undefined {
  let level: readonly TlvNode[] = start instanceof TlvNode ? start.children : start;
  let found: TlvNode | undefined;
  for (const tag of path) {
    found = undefined;
    for (const n of level) {
      if (n.tag === tag) {
        found = n;
        break;
      }
    }
    if (!found) return undefined;
    level = found.children;
  }
  return found;
}

/** {@link findPath} that throws `TLV_MISSING` naming the path. */
export function requirePath(start: TlvNode | readonly TlvNode[], path: readonly number[]): TlvNode {
  const n = findPath(start, path);
  if (!n) throw missing(path, start instanceof TlvNode ? start.tag : undefined);
  return n;
}

/** All nodes reached by the path, where the last step may match several siblings. */
export function findAllPath(start: TlvNode | readonly TlvNode[], path: readonly number[]): TlvNode[] {
  if (path.length === 0) return [];
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1]!;
  let level: readonly TlvNode[];
  if (parentPath.length === 0) {
    level = start instanceof TlvNode ? start.children : start;
  } else {
    const p = findPath(start, parentPath);
    if (!p) return [];
    level = p.children;
  }
  return level.filter((n) => n.tag === last);
}

/** True when `node.raw` equals `bytes` (e.g. re-encoding check). */
export function rawEquals(node: TlvNode, bytes: Uint8Array): boolean {
  return bytesEqual(node.raw, bytes);
}
