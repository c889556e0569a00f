import type { Namespace, Socket } from 'socket.io';

interface RawSocket {
  destroyed: boolean;
  writable: boolean;
  writableLength: number;
  write(chunk: Buffer): boolean;
}
interface WsLike {
  readyState: number;
  _socket?: RawSocket;
  _sender?: { _state: number; _queue: unknown[] };
}
interface EngineConn {
  emit(event: 'packetCreate', packet: { type: 'message'; data: string | Buffer }): void;
  readyState: string;
  upgrading?: boolean;
  writeBuffer: { data?: unknown }[];
  transport: { name: string; writable: boolean; perMessageDeflate?: unknown; socket?: WsLike };
}

const WS_OPEN = 1;
const SENDER_IDLE = 0;
const BINARY_EVENT = 5;

/** RFC 6455 §5.2: the header of one final, unmasked frame from the server. */
function frameHeader(opcode: 1 | 2, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 65536) {
    const b = Buffer.allocUnsafe(4);
    b[0] = 0x80 | opcode;
    b[1] = 126;
    b.writeUInt16BE(length, 2);
    return b;
  }
  const b = Buffer.allocUnsafe(10);
  b[0] = 0x80 | opcode;
  b[1] = 127;
  b.writeBigUInt64BE(BigInt(length), 2);
  return b;
}

/**
 * The Socket.IO packets of an event whose arguments are a JSON object and one binary attachment (a video frame), as
 * Socket.IO's encoder writes them: `51-<nsp>,[event,meta,{"_placeholder":true,"num":0}]`, then the bytes. Built by
 * hand because the encoder's generic walk (looking for binary, deconstructing, rebuilding) cost more per frame than
 * the rest of the fan-out; the test suite holds both to the same bytes.
 */
export function encodeFrameEvent(nsp: string, event: string, meta: object, bytes: Buffer): [string, Buffer] {
  return [`${BINARY_EVENT}1-${nsp === '/' ? '' : nsp + ','}[${JSON.stringify(event)},${JSON.stringify(meta)},{"_placeholder":true,"num":0}]`, bytes];
}

/**
 * The WebSocket frames of one frame event, as the `ws` library would write them: the Socket.IO header as an
 * Engine.IO message ("4" + text), then the frame's bytes as a binary WebSocket frame — joined into one buffer. The
 * copy is made once per frame; each watcher then costs one plain write, where separate pieces would cost each watcher
 * a corked, buffered writev (the stream's bookkeeping for it allocated more per watcher than the frame's header).
 */
function wireFrames(nsp: string, event: string, meta: object, bytes: Buffer): Wire {
  const [header, attachment] = encodeFrameEvent(nsp, event, meta, bytes);
  const text = Buffer.from('4' + header);
  return {
    bytes: Buffer.concat([frameHeader(1, text.length), text, frameHeader(2, attachment.length), attachment]),
    packets: [
      { type: 'message', data: header },
      { type: 'message', data: attachment },
    ],
  };
}

interface Wire {
  /** The bytes of both WebSocket frames, in order. */
  bytes: Buffer;
  /** The Engine.IO packets they carry, announced as Engine.IO would (the connection log counts them). */
  packets: { type: 'message'; data: string | Buffer }[];
}

/**
 * The TCP socket under a Socket.IO socket, when bytes written to it now arrive exactly as if Engine.IO had sent them:
 * WebSocket transport open and idle, nothing queued in Engine.IO or in `ws`, no compression. Otherwise undefined,
 * and the event takes the ordinary path, so ordering with the socket's other events always holds.
 */
function idleWire(s: Socket): RawSocket | undefined {
  const conn = s.conn as unknown as EngineConn;
  if (!s.connected || conn.readyState !== 'open' || conn.upgrading || conn.writeBuffer.length) return undefined;
  const t = conn.transport;
  if (t.name !== 'websocket' || !t.writable || t.perMessageDeflate) return undefined;
  const ws = t.socket;
  if (ws?.readyState !== WS_OPEN || !ws._sender || ws._sender._state !== SENDER_IDLE || ws._sender._queue.length) return undefined;
  const raw = ws._socket;
  return raw && !raw.destroyed && raw.writable ? raw : undefined;
}

/**
 * Bytes handed to a socket and not yet taken by the kernel: what waits in Engine.IO's write buffer plus what waits in
 * the TCP socket's own buffer. A client that stops reading makes this grow; the video channel skips a watcher whose
 * backlog is over its bound, so the bound holds whatever the client acknowledges.
 */
export function backlogBytes(s: Socket): number {
  const conn = s.conn as unknown as EngineConn;
  let n = 0;
  for (const p of conn.writeBuffer) n += typeof p.data === 'string' ? p.data.length : p.data instanceof Uint8Array ? p.data.byteLength : 0;
  const raw = conn.transport.socket?._socket;
  return n + (raw && !raw.destroyed ? raw.writableLength : 0);
}

/**
 * One video frame to many sockets of this instance, framed once. Video is the relay's only traffic that scales with
 * viewers × frame rate; through Engine.IO each copy costs packet objects, events, callbacks and a buffered flush per
 * socket (about three times what a bare WebSocket relay spends — bench/video.bench.ts). Here the WebSocket frames
 * are built once and each idle socket gets them in one write; a busy or polling socket gets the event the
 * ordinary way. `meta` is a validated frame meta (JSON values only). Returns how many took the ordinary way.
 */
export function fanOutFrame(ns: Namespace, ids: readonly string[], event: string, meta: object, bytes: Buffer): number {
  let wire: Wire | undefined;
  const slow: string[] = [];
  for (const id of ids) {
    const s = ns.sockets.get(id);
    if (!s) continue;
    const raw = idleWire(s);
    if (!raw) {
      slow.push(id);
      continue;
    }
    wire ??= wireFrames(ns.name, event, meta, bytes);
    const conn = s.conn as unknown as EngineConn;
    for (const p of wire.packets) conn.emit('packetCreate', p);
    raw.write(wire.bytes);
  }
  if (slow.length) ns.local.to(slow).emit(event, meta, bytes);
  return slow.length;
}
