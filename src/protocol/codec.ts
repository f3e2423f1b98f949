/**
 * Codecs: how values become bytes.
 *
 * - `serialize-json` (the package, exactly what cluster-client 3.x uses) is spoken with any
 *   peer that does not negotiate, so 3.x and cluster-share processes share one port.
 * - `tagged-v1` is what two cluster-share processes agree on in register_channel: one tag
 *   byte, then the cheapest encoding that keeps the value (see TAG_* below).
 */
import v8 from 'node:v8';
import * as serializeJson from './serialize-json.js';
import { DecodeError } from '../errors.js';
import type { Codec } from './packet.js';

/** A codec with the name it is negotiated by. */
export interface NamedCodec extends Codec {
  /** The name peers negotiate it by, e.g. `tagged-v1`. */
  readonly name: string;
}

/**
 * serialize-json@1: keeps strings, numbers, booleans, null, undefined, arrays, plain objects,
 * Buffer, Date and Error (every own property). The codec of cluster-client 3.x.
 */
export const serializeJsonCodec: NamedCodec = {
  name: 'serialize-json',
  encode: value => serializeJson.encode(value),
  decode: data => serializeJson.decode(data),
};

/** Tag: the rest is a well-formed string in UTF-8. */
const TAG_STRING = 0x73; // 's'
/** Tag: the rest is the bytes of a Buffer. */
const TAG_BUFFER = 0x62; // 'b'
/** Tag: the rest is UTF-8 JSON of a value that JSON keeps exactly. */
const TAG_JSON = 0x6a; // 'j'
/** Tag: the rest is node:v8 serialize() output. */
const TAG_V8 = 0x76; // 'v'
/** Tag: the rest is serialize-json output (values that contain an Error). */
const TAG_SERIALIZE_JSON = 0x53; // 'S'
/** Tag: undefined, nothing follows. */
const TAG_UNDEFINED = 0x75; // 'u'
/** Tag: a Date, a float64 (big-endian) time value follows. */
const TAG_DATE = 0x64; // 'd'

/** Objects nested deeper than this are left to v8.serialize (JSON could take them; our walk recurses). */
const MAX_JSON_DEPTH = 1000;

/** What a value needs: JSON keeps it exactly, or v8.serialize, or serialize-json (it holds an Error). */
const enum Need {
  Json = 0,
  V8 = 1,
  SerializeJson = 2,
}

const objectPrototype = Object.prototype;

/**
 * A walk is quick (no bookkeeping) or careful. The quick walk serves the usual value, a tree of
 * plain data: it gives up past QUICK_MAX_DEPTH levels (a cycle ends there) or QUICK_MAX_NODES
 * objects (shared references are walked again each time), and the careful walk starts over. The
 * careful walk keeps the objects on the current path (meeting one again is a cycle) and the
 * objects already walked (walked once: linear time whatever the shape). Encode is synchronous:
 * the state is module-wide and reset by each walk.
 */
const QUICK_MAX_DEPTH = 64;
const QUICK_MAX_NODES = 100_000;
const GIVE_UP = Symbol('quick walk gave up');
let careful = false;
let quickNodes = 0;
const onPath = new Set<object>();
const walked = new Set<object>();
let sawCycle = false;

/** Walks a value once to find the cheapest encoding that keeps it. */
function need(value: unknown, depth: number): Need {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return Need.Json;
    case 'number':
      // JSON turns NaN and ±Infinity into null and -0 into 0.
      return Number.isFinite(value) && !Object.is(value, -0) ? Need.Json : Need.V8;
    case 'object': {
      if (value === null) return Need.Json;
      if (!careful) {
        if (depth > QUICK_MAX_DEPTH || ++quickNodes > QUICK_MAX_NODES) throw GIVE_UP;
        return value instanceof Error ? Need.SerializeJson : needOfObject(value, depth);
      }
      if (onPath.has(value)) {
        sawCycle = true;
        return Need.V8;
      }
      if (walked.has(value)) return Need.Json;
      if (depth > MAX_JSON_DEPTH) return Need.V8;
      if (value instanceof Error) return Need.SerializeJson;
      onPath.add(value);
      const result = needOfObject(value, depth);
      onPath.delete(value);
      walked.add(value);
      return result;
    }
    default:
      // undefined, bigint, function, symbol
      return Need.V8;
  }
}

function needOfObject(value: object, depth: number): Need {
  let result = Need.Json;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // A hole or undefined becomes null in JSON.
      const n = item === undefined ? Need.V8 : need(item, depth + 1);
      if (n > result) result = n;
    }
    return result;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== objectPrototype && proto !== null) {
    // Buffer, Date, Map, Set, typed arrays, RegExp: v8. A class instance too, unless it holds an Error.
    if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp || value instanceof Map || value instanceof Set) return Need.V8;
    result = Need.V8;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    const n = item === undefined ? Need.V8 : need(item, depth + 1);
    if (n > result) result = n;
  }
  return result;
}

/** The encoding a value needs; serialize-json only if it holds an Error and no cycle (it cannot do cycles). */
function classify(value: unknown): Need {
  careful = false;
  quickNodes = 0;
  try {
    return need(value, 0);
  } catch (err) {
    if (err !== GIVE_UP) throw err;
  }
  careful = true;
  sawCycle = false;
  try {
    const n = need(value, 0);
    return n === Need.SerializeJson && sawCycle ? Need.V8 : n;
  } finally {
    careful = false;
    onPath.clear();
    walked.clear();
  }
}

const hasWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 cannot carry a lone surrogate; such strings go through JSON, which escapes it. */
function isWellFormed(value: string): boolean {
  return hasWellFormed ? (value as string & { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(value);
}

/*
 * Each encoding is made in a buffer with `room` unused bytes in front of it (0 but for the
 * leader's push packet, whose header and connection object go there: see encoderAfter).
 */
function taggedBytes(tag: number, bytes: Uint8Array, room: number): Buffer {
  const buf = Buffer.allocUnsafe(room + 1 + bytes.length);
  buf[room] = tag;
  buf.set(bytes, room + 1);
  return buf;
}

/*
 * A string and plain data (JSON), the usual values, end in one place, written here rather than
 * in a small helper: V8 optimises a function that small as soon as it first counts it hot, and
 * its compile job then runs on another core while the followers wake for a pushed value (see
 * benchmark/README.md, "What the fan-out p99 is made of").
 */
function encodeTagged(value: unknown, room = 0): Buffer {
  let tag: number;
  let text: string;
  if (typeof value === 'string' && isWellFormed(value)) {
    tag = TAG_STRING;
    text = value;
  } else {
    if (value === undefined) return taggedBytes(TAG_UNDEFINED, EMPTY, room);
    if (Buffer.isBuffer(value)) return taggedBytes(TAG_BUFFER, value, room);
    if (value instanceof Date && Object.getPrototypeOf(value) === Date.prototype) {
      const buf = Buffer.allocUnsafe(room + 9);
      buf[room] = TAG_DATE;
      buf.writeDoubleBE(value.getTime(), room + 1);
      return buf;
    }
    const n = classify(value);
    if (n === Need.V8) {
      try {
        return taggedBytes(TAG_V8, v8.serialize(value), room);
      } catch {
        // Functions and symbols cannot be cloned: fall back to what 3.x does with them (drop them).
      }
    }
    if (n !== Need.Json) return taggedBytes(TAG_SERIALIZE_JSON, serializeJson.encode(value), room);
    tag = TAG_JSON;
    text = JSON.stringify(value);
  }
  const length = Buffer.byteLength(text);
  const buf = Buffer.allocUnsafe(room + 1 + length);
  buf[room] = tag;
  buf.write(text, room + 1); // UTF-8 to the end: the buffer is the text's size (one argument check less per value)
  return buf;
}

const EMPTY = new Uint8Array(0);

/**
 * The value encoded in `data[start .. end)`. Strings and JSON, the usual values, are read in
 * place (toString with no encoding named is UTF-8 without looking the encoding up).
 */
function decodeTagged(data: Buffer, start = 0, end = data.length): unknown {
  switch (data[start]) {
    case TAG_STRING:
      return data.toString(undefined, start + 1, end);
    case TAG_JSON:
      return JSON.parse(data.toString(undefined, start + 1, end));
    case TAG_BUFFER:
      // A copy: `data` is the socket's chunk.
      return Buffer.from(data.subarray(start + 1, end));
    case TAG_UNDEFINED:
      return undefined;
    case TAG_DATE:
      if (end - start !== 9) break;
      return new Date(data.readDoubleBE(start + 1));
    case TAG_V8:
      return v8.deserialize(data.subarray(start + 1, end));
    case TAG_SERIALIZE_JSON:
      return serializeJson.decode(data.subarray(start + 1, end));
  }
  const length = end - start;
  throw new DecodeError(`tagged-v1: ${length <= 0 ? 'empty value' : `unknown tag 0x${data[start]!.toString(16)} (or bad length ${length})`}`);
}

/**
 * tagged-v1: one tag byte, then the cheapest encoding that keeps the value:
 * a string as UTF-8, a Buffer as its bytes, a Date as a float64, undefined as nothing,
 * plain data (objects, arrays, strings, finite numbers, booleans, null) as JSON, anything else
 * (Map, Set, BigInt, typed arrays, RegExp, NaN, ±Infinity, -0, undefined inside, sparse arrays,
 * cycles, nested Buffer or Date) with node:v8 serialize, and values holding an Error with
 * serialize-json (which keeps every own property of an Error, e.g. `code`).
 */
export const taggedCodec: NamedCodec = {
  name: 'tagged-v1',
  encode: encodeTagged,
  decode: data => decodeTagged(data),
};

/**
 * `codec.decode(bytes.subarray(start, end))`, without the view when the codec can read in place
 * (tagged-v1 can): a follower decodes every pushed value straight out of the received chunk.
 */
export function decodeRange(codec: Codec, bytes: Buffer, start: number, end: number): unknown {
  return codec === taggedCodec ? decodeTagged(bytes, start, end) : codec.decode(bytes.subarray(start, end));
}

/**
 * `encodeAfter(value, room)` of a codec that has one: the same bytes as `encode(value)`, after
 * `room` unused bytes in one buffer. The leader writes a pushed value's header into that room, so
 * the packet is the encoding's own buffer: no second buffer, no copy. tagged-v1 has one.
 */
export function encoderAfter(codec: Codec): ((value: unknown, room: number) => Buffer) | undefined {
  return codec === taggedCodec ? encodeTagged : undefined;
}

/** The codecs a cluster-share follower offers in register_channel, in order of preference. */
export const NEGOTIABLE_CODECS: readonly NamedCodec[] = [taggedCodec];

/** The name a codec is known by in stats: its negotiated name, or `transcode` for a user's own. */
export function codecName(codec: Codec): string {
  const { name } = codec as Partial<NamedCodec>;
  return typeof name === 'string' ? name : 'transcode';
}

/** Picks the first offered codec this process has; undefined (serialize-json) if none. */
export function chooseCodec(offered: unknown): NamedCodec | undefined {
  if (!Array.isArray(offered)) return undefined;
  for (const name of offered) {
    const codec = NEGOTIABLE_CODECS.find(c => c.name === name);
    if (codec) return codec;
  }
  return undefined;
}
