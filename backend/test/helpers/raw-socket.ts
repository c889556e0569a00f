import WebSocket from 'ws';
import { RELAY_NAMESPACE } from '../../src/protocol/index.js';

/**
 * A relay client spoken by hand over a bare WebSocket (Engine.IO 4, Socket.IO 5), for clients that misbehave in
 * ways socket.io-client will not: stop reading their TCP socket (`pause`), send raw binary messages, lie in acks.
 */
export interface RawRelayClient {
  ws: WebSocket;
  /** Emits an event with an ack id; resolves with the ack's payload (while the client still reads). */
  call(event: string, payload: unknown): Promise<any>;
  /** Sends a raw binary Engine.IO message (outside any Socket.IO packet). */
  sendBinary(data: Uint8Array): void;
  /** Stops reading: the server's writes pile up in the kernel, then in the server. */
  pause(): void;
  close(): void;
}

export function rawRelayClient(url: string, auth: Record<string, unknown>): Promise<RawRelayClient> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  let ackId = 0;
  const acks = new Map<number, (v: any) => void>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw relay client: no connect')), 10_000);
    ws.on('error', reject);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (text === '2') return ws.send('3');
      if (text.startsWith('0')) return ws.send(`40${RELAY_NAMESPACE},${JSON.stringify(auth)}`);
      if (text.startsWith(`40${RELAY_NAMESPACE},`)) {
        clearTimeout(timer);
        resolve({
          ws,
          call(event, payload) {
            const id = ++ackId;
            ws.send(`42${RELAY_NAMESPACE},${id}${JSON.stringify([event, payload])}`);
            return new Promise((r) => acks.set(id, r));
          },
          sendBinary: (d) => ws.send(d),
          pause: () => ws.pause(),
          close: () => ws.terminate(),
        });
        return;
      }
      if (text.startsWith(`44${RELAY_NAMESPACE},`)) return reject(new Error(text));
      const m = new RegExp(`^43${RELAY_NAMESPACE},(\\d+)(.*)$`).exec(text);
      if (m) acks.get(Number(m[1]))?.(JSON.parse(m[2])[0]);
    });
  });
}

/** A process's resident set in bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}
