/**
 * Fast TLV builder: describe the tree, get the bytes in one allocation.
 *
 * Each item computes its encoded size when it is created (children first, so a constructed item knows its
 * content length without encoding anything), and {@link encodeItem} allocates the output exactly once and writes
 * every header and value straight into it. No per-byte pushes, no intermediate concatenation. Items are immutable
 * and can be shared between trees (e.g. a constant AlgorithmIdentifier reused for every document).
 *
 * Lengths are always written in the minimal definite form (DER), so the output of a tree of primitives and
 * constructed items is DER as long as the values are (SET OF ordering: use {@link derSetOf}).
 */
import { headerSize, lengthSize, tagSize, writeLength, writeTag } from './ber.ts';
import { invalidInput } from './errors.ts';

/** Something that can be written into a preallocated buffer. */
export interface TlvItem {
  /** Total encoded size in bytes (header + value). */
  readonly size: number;
  /** Writes the encoding at `offset` and returns the offset after it. */
  writeTo(out: Uint8Array, offset: number): number;
}

class PrimitiveItem implements TlvItem {
  readonly size: number;
  private readonly tagLen: number;
  constructor(
    readonly tag: number,
    readonly value: Uint8Array,
  ) {
    this.tagLen = tagSize(tag);
    this.size = this.tagLen + lengthSize(value.length) + value.length;
  }
  writeTo(out: Uint8Array, offset: number): number {
    offset = writeTag(out, offset, this.tag, this.tagLen);
    offset = writeLength(out, offset, this.value.length);
    out.set(this.value, offset);
    return offset + this.value.length;
  }
}

class ConstructedItem implements TlvItem {
  readonly size: number;
  private readonly tagLen: number;
  private readonly contentLength: number;
  constructor(
    readonly tag: number,
    readonly children: readonly TlvItem[],
  ) {
    this.tagLen = tagSize(tag);
    let n = 0;
    for (const c of children) n += c.size;
    this.contentLength = n;
    this.size = this.tagLen + lengthSize(n) + n;
  }
  writeTo(out: Uint8Array, offset: number): number {
    offset = writeTag(out, offset, this.tag, this.tagLen);
    offset = writeLength(out, offset, this.contentLength);
    for (const c of this.children) offset = c.writeTo(out, offset);
    return offset;
  }
}

class RawItem implements TlvItem {
  readonly size: number;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  writeTo(out: Uint8Array, offset: number): number {
    out.set(this.bytes, offset);
    return offset + this.bytes.length;
  }
}

/** A primitive data object `tag | length | value`. */
export function primitive(tag: number, value: Uint8Array): TlvItem {
  return new PrimitiveItem(tag, value);
}

/**
 * A data object `tag | length | children...` (children written in the given order). Any tag is accepted, so this
 * also wraps pre-built content under a primitive tag (e.g. an OCTET STRING holding an encoding).
 */
export function constructed(tag: number, children: readonly TlvItem[]): TlvItem {
  return new ConstructedItem(tag, children);
}

/** Bytes that are already encoded (a parsed node's `raw`, a DER blob from elsewhere), copied as they are. */
export function rawItem(bytes: Uint8Array): TlvItem {
  return new RawItem(bytes);
}

/** Several items written back to back (no header). */
export function sequenceOfItems(items: readonly TlvItem[]): TlvItem {
  let n = 0;
  for (const c of items) n += c.size;
  const size = n;
  return {
    size,
    writeTo(out, offset) {
      for (const c of items) offset = c.writeTo(out, offset);
      return offset;
    },
  };
}

/** Encodes an item into a new buffer (one allocation). */
export function encodeItem(item: TlvItem): Uint8Array {
  const out = new Uint8Array(item.size);
  const end = item.writeTo(out, 0);
  if (end !== out.length) throw invalidInput('SIZE_MISMATCH', `item wrote ${end} of ${out.length} bytes`);
  return out;
}

/** Encodes items back to back into a new buffer (one allocation). */
export function encodeItems(items: readonly TlvItem[]): Uint8Array {
  return encodeItem(sequenceOfItems(items));
}

/** Encodes a single primitive data object. */
export function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  const t = tagSize(tag);
  const out = new Uint8Array(t + lengthSize(value.length) + value.length);
  const at = writeLength(out, writeTag(out, 0, tag, t), value.length);
  out.set(value, at);
  return out;
}

/** Header (tag + length) only, for streaming a large value without copying it. */
export function encodeHeader(tag: number, length: number): Uint8Array {
  const t = tagSize(tag);
  const out = new Uint8Array(headerSize(tag, length));
  writeLength(out, writeTag(out, 0, tag, t), length);
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * DER SET OF (X.690 §11.6): the components are sorted in ascending order of their encodings (as octet strings,
 * shorter first when one is a prefix of the other). The children are encoded once here to sort them.
 */
export function derSetOf(children: readonly TlvItem[], tag = 0x31): TlvItem {
  const encoded = children.map(encodeItem).sort(compareBytes);
  return constructed(tag, encoded.map(rawItem));
}
