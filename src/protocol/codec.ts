/**
 * Codecs: how values become bytes. The default is serialize-json, exactly what
 * cluster-client 3.x uses, so both can share one port.
 */
import serializeJson from 'serialize-json';
import type { Codec } from './packet.js';

/**
 * serialize-json@1: keeps strings, numbers, booleans, null, undefined, arrays, plain objects,
 * Buffer, Date and Error (message and stack). The codec of cluster-client 3.x.
 */
export const serializeJsonCodec: Codec = {
  encode: value => serializeJson.encode(value),
  decode: data => serializeJson.decode(data),
};
