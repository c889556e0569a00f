import { Socket, transports } from 'engine.io';

interface RawSocket {
  cork(): void;
  uncork(): void;
}
interface WsTransport {
  socket?: { _socket?: RawSocket };
  send(packets: unknown[]): void;
}
interface EngineSocket {
  flush(): void;
  write(...args: unknown[]): unknown;
  batching?: boolean;
}

/**
 * One write system call per socket per burst of packets. Socket.IO sends an event with binary data as two Engine.IO
 * packets (the header, then the bytes), and Engine.IO flushes each packet to the transport as it comes, so `ws` wrote
 * every video frame to every watcher in two `writev` calls — with video fanned out to hundreds of watchers, the
 * largest single cost of the relay (bench/video.bench.ts prints the profile).
 *
 * Here the packets written in one synchronous run (an event, or a fan-out to many sockets) are flushed together at
 * its end (a microtask later), and the WebSocket transport corks the TCP socket around a batch, so that it leaves in
 * one `writev`. The same bytes, in the same order, with no timer in between.
 */
export function batchWebSocketWrites(): void {
  const ws = (transports as unknown as Record<string, { prototype: WsTransport & { batched?: boolean } }>).websocket.prototype;
  if (ws.batched) return;
  ws.batched = true;
  const send = ws.send;
  ws.send = function (this: WsTransport, packets: unknown[]) {
    const raw = this.socket?._socket;
    if (!raw || packets.length < 2) return send.call(this, packets);
    raw.cork();
    try {
      send.call(this, packets);
    } finally {
      raw.uncork();
    }
  };

  const engine = (Socket as unknown as { prototype: EngineSocket }).prototype;
  const flush = engine.flush;
  const write = engine.write;
  engine.flush = function (this: EngineSocket) {
    if (!this.batching) flush.call(this);
  };
  engine.write = function (this: EngineSocket, ...args: unknown[]) {
    if (!this.batching) {
      this.batching = true;
      queueMicrotask(() => {
        this.batching = false;
        flush.call(this);
      });
    }
    return write.apply(this, args);
  };
}
