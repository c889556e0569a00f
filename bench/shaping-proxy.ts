// A TCP proxy shaped like a home link: each direction gets a rate limit (a serialising bottleneck with a queue) and a
// one-way delay. Put between a browser and the server, it shows what a viewer on such a link gets.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface LinkShape {
  /** Bits per second, each direction. */
  rateBps: number;
  /** One-way delay, ms. */
  delayMs: number;
  /** The bottleneck's queue; beyond it the sender is paused (TCP's back pressure), bytes. */
  queueBytes?: number;
}

/** One direction: bytes leave the bottleneck at `rateBps`, then arrive `delayMs` later, in order. */
class Pipe {
  private busyUntil = 0;
  private queued = 0;
  private readonly inFlight: { at: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly limit: number;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly shape: LinkShape,
  ) {
    this.limit = shape.queueBytes ?? 64 * 1024;
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.inFlight.push({ at: Math.max(performance.now(), this.busyUntil) + shape.delayMs, chunk: Buffer.alloc(0) });
      this.arm();
    });
  }

  private push(chunk: Buffer): void {
    const t = performance.now();
    // Serialisation at the link's rate, after whatever is queued ahead of it; then the propagation delay.
    this.busyUntil = Math.max(t, this.busyUntil) + (chunk.length * 8 * 1000) / this.shape.rateBps;
    this.queued += chunk.length;
    if (this.queued > this.limit) this.from.pause();
    this.inFlight.push({ at: this.busyUntil + this.shape.delayMs, chunk });
    this.arm();
  }

  private arm(): void {
    if (this.timer || !this.inFlight.length) return;
    this.timer = setTimeout(() => this.deliver(), Math.max(0, this.inFlight[0].at - performance.now()));
  }

  private deliver(): void {
    this.timer = null;
    const t = performance.now();
    while (this.inFlight.length && this.inFlight[0].at <= t + 0.5) {
      const { chunk } = this.inFlight.shift()!;
      if (this.to.destroyed) continue;
      if (!chunk.length) this.to.end();
      else this.to.write(chunk);
      this.queued -= chunk.length;
    }
    if (this.queued <= this.limit) this.from.resume();
    this.arm();
  }
}

/** Listens on 127.0.0.1 (a random port) and forwards every connection to `targetPort` through the shaped link. */
export function startShapingProxy(targetPort: number, shape: LinkShape): Promise<{ port: number; server: Server; bytesDown: () => number }> {
  let down = 0;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    upstream.on('data', (d: Buffer) => (down += d.length));
    new Pipe(client, upstream, shape);
    new Pipe(upstream, client, shape);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server, bytesDown: () => down })),
  );
}
