/**
 * Wire protocol v1, byte-compatible with cluster-client 3.x (see DESIGN.md §2).
 *
 * ```
 * offset size field
 *  0      1   protocol version = 1
 *  1      1   0 = request, 1 = response
 *  2      2   reserved, 0
 *  4      8   request id (int64 big-endian; ids are 1..2^30 and wrap)
 * 12      4   timeout in ms (int32)
 * 16      4   length of the connection object (int32)
 * 20      4   length of the application data (int32)
 * 24      …   connection object: UTF-8 JSON { type, ... }
 *  …      …   application data (codec bytes, may be empty)
 * ```
 * This module does no I/O.
 */
import { DecodeError, ProtocolError } from '../errors.js';

export const PROTOCOL_VERSION = 1;
export const HEADER_LENGTH = 24;
export const PACKET_REQUEST = 0;
export const PACKET_RESPONSE = 1;
/** Request ids stay below 2^30 so they fit in the low word (what 3.x does). */
export const MAX_REQUEST_ID = 2 ** 30;
const TWO_POW_32 = 2 ** 32;

/** The JSON connection object of a packet. `type` says what the packet is. */
export interface ConnObj {
  type: string;
  [field: string]: unknown;
}

/**
 * Our extension: a leader request to a cluster-share follower (one that offered `codecs` in
 * register_channel) saying it is closing gracefully. No answer. 3.x followers ignore unknown types.
 */
export const LEADER_CLOSING = 'leader_closing';

/**
 * Our extension: an observer's request for the leader's status (`cluster-share status`). Answered
 * with STATUS_RES whose data is UTF-8 JSON (a LeaderStatus, or `{ error }`) whatever the codecs.
 * Allowed before register_channel; cluster-client 3.x leaders never answer it.
 */
export const STATUS = 'status';
export const STATUS_RES = 'status_res';

/**
 * Our extension: the error code of the answer to a register_channel that carries `takeover: true`
 * (sent by an interim leader to the endpoint's holder, README "A hung leader"): the holder
 * stepped down and released the endpoint. A 3.x leader ignores the field and registers the
 * sender as a follower, which tells the interim leader it keeps leading.
 */
export const TAKEN_OVER = 'ERR_CLUSTER_TAKEN_OVER';

/** The `pid` extension field of register_channel(_res) as a peer sent it: a positive integer, else unknown. */
export function readPid(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : undefined;
}

/**
 * A decoded packet. Its data is `bytes[dataStart .. dataEnd)`, in the received bytes themselves
 * (not a copy): a pushed value is decoded from there, with no view made for it (a Buffer view is
 * three calls into Node's JavaScript per packet; see packetData for one).
 */
export interface Packet {
  id: number;
  isResponse: boolean;
  timeout: number;
  connObj: ConnObj;
  /** The memory that holds the packet's data (a received chunk: its other bytes are not this packet's). */
  bytes: Buffer;
  dataStart: number;
  dataEnd: number;
}

/** The packet's data as a view into the received bytes; undefined when it has none. */
export function packetData(packet: Packet): Buffer | undefined {
  return packet.dataEnd > packet.dataStart ? packet.bytes.subarray(packet.dataStart, packet.dataEnd) : undefined;
}

/** Something that turns a value into bytes and back (cluster-client's `transcode`). */
export interface Codec {
  /** A value to bytes; throws if it cannot. */
  encode(value: unknown): Buffer;
  /** Bytes back to the value; throws if they do not decode. */
  decode(data: Buffer): unknown;
}

let lastId = 0;
/** Next request id for this process: 1 .. 2^30-1, then wraps to 1 (as 3.x). */
export function nextRequestId(): number {
  lastId += 1;
  if (lastId >= MAX_REQUEST_ID) lastId = 1;
  return lastId;
}

/*
 * The header's integers, big-endian, with plain byte loads and stores: no Buffer method per field
 * (this runs once per packet, mostly in a process that just woke up, where every call costs).
 * Both ways are spelled out, with no small helper per field: V8 compiles a function that small
 * as soon as it first counts it hot (a helper called per field gets there within a few hundred
 * packets), and the compile job then runs on another core while the followers wake for a value.
 */
function writeHeader(buf: Buffer, isResponse: boolean, id: number, timeout: number, connLength: number, dataLength: number): void {
  const idHigh = Math.floor(id / TWO_POW_32);
  buf[0] = PROTOCOL_VERSION;
  buf[1] = isResponse ? PACKET_RESPONSE : PACKET_REQUEST;
  buf[2] = 0;
  buf[3] = 0;
  // One field per line: bytes 4-7 id (high word), 8-11 id (low word), 12-15 timeout,
  // 16-19 connection object length, 20-23 data length.
  buf[4] = idHigh >>> 24; buf[5] = idHigh >>> 16; buf[6] = idHigh >>> 8; buf[7] = idHigh;
  buf[8] = id >>> 24; buf[9] = id >>> 16; buf[10] = id >>> 8; buf[11] = id;
  buf[12] = timeout >>> 24; buf[13] = timeout >>> 16; buf[14] = timeout >>> 8; buf[15] = timeout;
  buf[16] = connLength >>> 24; buf[17] = connLength >>> 16; buf[18] = connLength >>> 8; buf[19] = connLength;
  buf[20] = dataLength >>> 24; buf[21] = dataLength >>> 16; buf[22] = dataLength >>> 8; buf[23] = dataLength;
}

/**
 * A connection object already in its wire form (UTF-8 JSON), for a sender that sends the same one
 * many times (the leader's pushes for one key): encodePacket copies its bytes.
 */
export class EncodedConnObj {
  readonly bytes: Buffer;
  constructor(connObj: ConnObj) {
    this.bytes = Buffer.from(JSON.stringify(connObj), 'utf8');
  }
}

/**
 * Writes a packet's header and connection object at the start of `buf`, whose data follows them
 * (`dataLength` bytes, written there by whoever made `buf`, e.g. a codec's encodeAfter).
 */
export function writePacketHead(buf: Buffer, id: number, isResponse: boolean, timeout: number, connObj: EncodedConnObj, dataLength: number): void {
  writeHeader(buf, isResponse, id, timeout, connObj.bytes.length, dataLength);
  buf.set(connObj.bytes, HEADER_LENGTH);
}

/** Header + JSON of a packet in a buffer with `extra` spare bytes at the end for the data. */
function encodeHead(id: number, isResponse: boolean, timeout: number, connObj: ConnObj | EncodedConnObj, dataLength: number, extra: number): Buffer {
  if (connObj instanceof EncodedConnObj) {
    const buf = Buffer.allocUnsafe(HEADER_LENGTH + connObj.bytes.length + extra);
    writePacketHead(buf, id, isResponse, timeout, connObj, dataLength);
    return buf;
  }
  const json = JSON.stringify(connObj);
  const connLength = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + connLength + extra);
  writeHeader(buf, isResponse, id, timeout, connLength, dataLength);
  buf.write(json, HEADER_LENGTH, connLength, 'utf8');
  return buf;
}

/**
 * Encodes one packet into a single buffer (one allocation: header, JSON and data together).
 * An array of `data` parts is written one after the other as the application data.
 */
export function encodePacket(id: number, isResponse: boolean, timeout: number, connObj: ConnObj | EncodedConnObj, data?: Buffer | readonly Buffer[]): Buffer {
  let dataLength = 0;
  if (data) {
    if (Buffer.isBuffer(data)) dataLength = data.length;
    else for (const part of data) dataLength += part.length;
  }
  const buf = encodeHead(id, isResponse, timeout, connObj, dataLength, dataLength);
  if (data) {
    let offset = buf.length - dataLength;
    if (Buffer.isBuffer(data)) {
      buf.set(data, offset);
    } else {
      for (const part of data) {
        buf.set(part, offset);
        offset += part.length;
      }
    }
  }
  return buf;
}

/**
 * Encodes only the header and JSON of a packet whose `dataLength` bytes of data the caller
 * writes next: fan-out sends the same data buffer to every follower without copying it.
 */
export function encodePacketHead(id: number, isResponse: boolean, timeout: number, connObj: ConnObj | EncodedConnObj, dataLength: number): Buffer {
  return encodeHead(id, isResponse, timeout, connObj, dataLength, 0);
}

/**
 * Encodes invoke arguments: for each argument `[int32 length][codec bytes]`.
 * Returns the parts (length prefixes and codec outputs) so encodePacket copies them once.
 */
export function encodeInvokeArgs(args: readonly unknown[], codec: Codec): Buffer[] {
  const parts: Buffer[] = [];
  for (const arg of args) {
    const bytes = codec.encode(arg);
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(bytes.length, 0);
    parts.push(len, bytes);
  }
  return parts;
}

/** Decodes invoke arguments; a length that runs past the data is a ProtocolError, a value that does not decode a DecodeError. */
export function decodeInvokeArgs(data: Buffer | undefined, argLength: number, codec: Codec): unknown[] {
  if (!Number.isInteger(argLength) || argLength < 0) {
    throw new ProtocolError(`invoke argLength must be a non-negative integer, got ${JSON.stringify(argLength)}`);
  }
  // Each argument takes at least its 4-byte length: check before allocating for argLength.
  const available = data ? data.length : 0;
  if (argLength > available / 4) {
    throw new ProtocolError(`invoke argLength ${argLength} does not fit in ${available} bytes of arguments`);
  }
  const args: unknown[] = new Array(argLength);
  let offset = 0;
  for (let i = 0; i < argLength; i++) {
    if (!data || offset + 4 > data.length) {
      throw new ProtocolError(`invoke argument ${i} of ${argLength} is missing`);
    }
    const len = data.readInt32BE(offset);
    if (len < 0 || offset + 4 + len > data.length) {
      throw new ProtocolError(`invoke argument ${i} declares ${len} bytes but ${data.length - offset - 4} remain`);
    }
    try {
      args[i] = codec.decode(data.subarray(offset + 4, offset + 4 + len));
    } catch (cause) {
      throw cause instanceof DecodeError ? cause : new DecodeError(`invoke argument ${i}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
    offset += 4 + len;
  }
  return args;
}

/** The fields of a 24-byte header. */
export interface PacketHeader {
  version: number;
  isResponse: boolean;
  id: number;
  timeout: number;
  connLength: number;
  dataLength: number;
}

/** Reads a header from the 24 bytes of `buf` at `offset` (no validation). */
export function readHeader(buf: Buffer, offset = 0): PacketHeader {
  return {
    version: buf[offset]!,
    isResponse: buf[offset + 1] === PACKET_RESPONSE,
    id: ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) * TWO_POW_32 +
      (((buf[offset + 8]! << 24) | (buf[offset + 9]! << 16) | (buf[offset + 10]! << 8) | buf[offset + 11]!) >>> 0),
    timeout: (buf[offset + 12]! << 24) | (buf[offset + 13]! << 16) | (buf[offset + 14]! << 8) | buf[offset + 15]!,
    connLength: (buf[offset + 16]! << 24) | (buf[offset + 17]! << 16) | (buf[offset + 18]! << 8) | buf[offset + 19]!,
    dataLength: (buf[offset + 20]! << 24) | (buf[offset + 21]! << 16) | (buf[offset + 22]! << 8) | buf[offset + 23]!,
  };
}
