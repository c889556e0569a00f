import { io, type Socket } from 'socket.io-client';
import { RELAY_NAMESPACE } from '../../src/protocol/index.js';

export interface Peer {
  socket: Socket;
  /** Every event received so far, in order. */
  log: { event: string; args: any[] }[];
  /** Resolves with the args of the next (or an already logged, unconsumed) event matching. */
  next(event: string, match?: (...args: any[]) => boolean, timeoutMs?: number): Promise<any[]>;
  /** Like next, but only for events that arrive after this call. */
  nextNew(event: string, match?: (...args: any[]) => boolean, timeoutMs?: number): Promise<any[]>;
  count(event: string, match?: (...args: any[]) => boolean): number;
  call<T = any>(event: string, payload: unknown): Promise<T>;
  close(): void;
}

/** A real socket.io-client peer on the relay namespace; resolves once connected, rejects with the connect_error. */
export function connectPeer(url: string, auth: Record<string, unknown> | undefined, opts: { reconnection?: boolean; transports?: ('websocket' | 'polling')[] } = {}): Promise<Peer> {
  const socket = io(url + RELAY_NAMESPACE, { auth, transports: opts.transports ?? ['websocket'], forceNew: true, reconnection: opts.reconnection ?? false });
  const log: Peer['log'] = [];
  const consumed = new WeakSet<object>();
  const waiters: { event: string; match?: (...a: any[]) => boolean; resolve(args: any[]): void; entry?: object }[] = [];
  socket.onAny((event, ...args) => {
    const entry = { event, args };
    log.push(entry);
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      if (w.event === event && (!w.match || w.match(...args))) {
        consumed.add(entry);
        waiters.splice(i, 1);
        w.resolve(args);
        return;
      }
    }
  });
  const peer: Peer = {
    socket,
    log,
    next(event, match, timeoutMs = 5000) {
      const found = log.find((e) => e.event === event && !consumed.has(e) && (!match || match(...e.args)));
      if (found) {
        consumed.add(found);
        return Promise.resolve(found.args);
      }
      return peer.nextNew(event, match, timeoutMs);
    },
    nextNew(event, match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const w = { event, match, resolve: (a: any[]) => (clearTimeout(t), resolve(a)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${event}; got ${log.map((e) => e.event).join(',') || 'nothing'}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    count: (event, match) => log.filter((e) => e.event === event && (!match || match(...e.args))).length,
    call: (event, payload) => socket.timeout(5000).emitWithAck(event, payload),
    close: () => void socket.disconnect(),
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(peer));
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/** A minimal valid JPEG-looking payload (SOI … EOI) of the given size, tagged so receivers can tell frames apart. */
export function fakeJpeg(tag: number, size = 2048): Buffer {
  const b = Buffer.alloc(size, tag & 0xff);
  b[0] = 0xff;
  b[1] = 0xd8;
  b[size - 2] = 0xff;
  b[size - 1] = 0xd9;
  return b;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
