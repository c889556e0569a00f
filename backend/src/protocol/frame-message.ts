import type { FrameMeta } from './relay.js';

/**
 * A video frame as one binary Engine.IO message of its own, outside any Socket.IO packet: a tag byte, the length of
 * the meta's JSON (big-endian uint16), the meta as UTF-8 JSON, then the frame's bytes. A vehicle sends 30 of these
 * a second for as long as it is connected; as a `frame` event each one was two WebSocket messages, a JSON packet
 * with a placeholder and the binary attachment to reunite with it, and the server's Socket.IO parser and
 * dispatcher ran for each. In this form the relay reads it before the parser (see the relay gateway) and validates
 * the meta against the same schema and bounds as the event's. The `frame` event stays for clients that cannot send
 * raw Engine.IO messages (the Python vehicle); both reach the same handler.
 */
export const BINARY_FRAME = { tag: 0xa2, headerBytes: 3 } as const;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeFrameMessage(meta: FrameMeta, bytes: Uint8Array): Uint8Array {
  const json = utf8.encode(JSON.stringify(meta));
  if (json.length > 0xffff) throw new Error('frame meta too large');
  const out = new Uint8Array(BINARY_FRAME.headerBytes + json.length + bytes.length);
  out[0] = BINARY_FRAME.tag;
  out[1] = json.length >> 8;
  out[2] = json.length & 0xff;
  out.set(json, BINARY_FRAME.headerBytes);
  out.set(bytes, BINARY_FRAME.headerBytes + json.length);
  return out;
}

/** Whether a binary message is meant as a frame (by its tag). */
export function isBinaryFrame(data: unknown): data is Uint8Array {
  return data instanceof Uint8Array && data.length > 0 && data[0] === BINARY_FRAME.tag;
}

/**
 * The meta's JSON text and the frame's bytes, or why the message is malformed. The JSON is not parsed here: its
 * length is checked against `maxMetaBytes` first, and the caller parses and validates it (see `parseBinaryFrame`).
 */
export function splitFrameMessage(data: Uint8Array, maxMetaBytes: number): { ok: true; json: string; bytes: Uint8Array } | { ok: false; message: string } {
  if (data.length < BINARY_FRAME.headerBytes || data[0] !== BINARY_FRAME.tag) return { ok: false, message: `a binary frame starts with 0x${BINARY_FRAME.tag.toString(16)} and the meta's length` };
  const n = (data[1] << 8) | data[2];
  if (n === 0 || n > maxMetaBytes) return { ok: false, message: `the frame's meta must be 1 to ${maxMetaBytes} bytes of JSON` };
  const end = BINARY_FRAME.headerBytes + n;
  if (end >= data.length) return { ok: false, message: 'a binary frame carries the meta, then the frame bytes' };
  let json: string;
  try {
    json = fromUtf8.decode(data.subarray(BINARY_FRAME.headerBytes, end));
  } catch {
    return { ok: false, message: "the frame's meta must be UTF-8 JSON" };
  }
  return { ok: true, json, bytes: data.subarray(end) };
}
