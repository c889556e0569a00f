import type { Namespace, Socket } from 'socket.io';

interface RawSocket {
  destroyed: boolean;
  writable: boolean;
  cork(): void;
  uncork(): void;
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
  writeBuffer: unknown[];
  transport: { name: string; writable: boolean; perMessageDeflate?: unknown; socket?: WsLike };
}
type Encoder = { encode(packet: unknown): (string | Buffer | ArrayBufferView)[] };

const WS_OPEN = 1;
const SENDER_IDLE = 0;
const EVENT = 2;
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

/** Whether `encodeFrameEvent` applies: a plain object of JSON scalars (a validated frame meta) and a Buffer. */
function isFrameEvent(args: unknown[]): args is [Record<string, unknown>, Buffer] {
  if (args.length !== 2 || !Buffer.isBuffer(args[1])) return false;
  const meta = args[0];
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || Object.getPrototypeOf(meta) !== Object.prototype) return false;
  for (const k in meta) {
    const v = (meta as Record<string, unknown>)[k];
    // Scalars, and one level of plain objects of strings (the H.264 decoder config).
    if (v !== null && typeof v === 'object') {
      if (Object.getPrototypeOf(v) !== Object.prototype) return false;
      for (const x of Object.values(v)) if (typeof x !== 'string') return false;
    } else if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return false;
  }
  return true;
}

/**
 * The WebSocket frames of one Socket.IO event, as the `ws` library would write them: the Socket.IO header as an
 * Engine.IO message ("4" + text), then each binary attachment as a binary frame.
 */
function wireFrames(ns: Namespace, event: string, args: unknown[]): Wire {
  const encoder = (ns.server as unknown as { encoder: Encoder }).encoder;
  const wire: Wire = { frames: [], packets: [] };
  const packets = isFrameEvent(args) ? encodeFrameEvent(ns.name, event, args[0], args[1]) : encoder.encode({ type: EVENT, nsp: ns.name, data: [event, ...args] });
  for (const p of packets) {
    const packet = typeof p === 'string' ? p : Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    const data = typeof packet === 'string' ? Buffer.from('4' + packet) : packet;
    wire.frames.push(frameHeader(typeof packet === 'string' ? 1 : 2, data.length), data);
    wire.packets.push({ type: 'message', data: packet });
  }
  // Small pieces (headers, the event's JSON) joined into one buffer: each write is one more iovec in the kernel.
  const joined: Buffer[] = [];
  let small: Buffer[] = [];
  for (const f of wire.frames) {
    if (f.length >= 1024) {
      if (small.length) joined.push(Buffer.concat(small));
      joined.push(f);
      small = [];
    } else small.push(f);
  }
  if (small.length) joined.push(Buffer.concat(small));
  wire.frames = joined;
  return wire;
}

interface Wire {
  /** The bytes of the WebSocket frames, in order. */
  frames: Buffer[];
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
 * One event to many sockets of this instance, framed once. Video is the relay's only traffic that scales with
 * viewers × frame rate; through Engine.IO each copy costs packet objects, events, callbacks and a buffered flush per
 * socket (about three times what a bare WebSocket relay spends — bench/video.bench.ts). Here the WebSocket frames
 * are built once and each idle socket gets them in one corked write; a busy or polling socket gets the event the
 * ordinary way. Returns how many took the ordinary way.
 */
export function fanOutLocal(ns: Namespace, ids: readonly string[], event: string, ...args: unknown[]): number {
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
    wire ??= wireFrames(ns, event, args);
    const conn = s.conn as unknown as EngineConn;
    for (const p of wire.packets) conn.emit('packetCreate', p);
    raw.cork();
    for (const f of wire.frames) raw.write(f);
    raw.uncork();
  }
  if (slow.length) ns.local.to(slow).emit(event, ...args);
  return slow.length;
}
