import { DestroyRef, effect, inject, Injectable, signal, untracked } from '@angular/core';
import { ClockSync, CONNECTIONS_EVENTS, encodeFrameAck, HANDSHAKE_UNAUTHORIZED, RELAY_EVENTS, RELAY_NAMESPACE, type ClockAck, type FrameAck, type HandshakeRefusal, type PresenceEntry } from '@vicer/protocol';
import { io, type Socket } from 'socket.io-client';
import { AuthService } from '../auth/auth.service';

export type SocketStatus = 'offline' | 'connecting' | 'connected' | 'reconnecting' | 'kicked' | 'refused';

/**
 * The app's one relay socket: open while signed in, authenticated with the current access token (and re-authenticated
 * in place when it is renewed), reconnecting with backoff. Its status drives the "disconnected" banner.
 */
@Injectable({ providedIn: 'root' })
export class RelaySocketService {
  private readonly auth = inject(AuthService);
  private socket: Socket | null = null;
  readonly status = signal<SocketStatus>('offline');
  readonly notice = signal<string | null>(null);
  readonly presence = signal<PresenceEntry[]>([]);
  /** This browser's clock against the server's: latencies and control times are in server time. */
  readonly clock = new ClockSync((t0) => this.call<ClockAck>(RELAY_EVENTS.clock, { t0 }));
  private clockTimer: ReturnType<typeof setInterval> | null = null;

  constructor() {
    effect(() => {
      const token = this.auth.accessToken();
      untracked(() => {
        if (!token) this.close();
        else if (!this.socket) this.open();
        else if (this.socket.connected) this.socket.emit('auth', { token });
      });
    });
    inject(DestroyRef).onDestroy(() => this.close());
  }

  on<T extends unknown[]>(event: string, handler: (...args: T) => void): () => void {
    const h = handler as (...args: unknown[]) => void;
    this.socket?.on(event, h);
    const pending = { event, h };
    this.listeners.add(pending);
    return () => {
      this.socket?.off(event, h);
      this.listeners.delete(pending);
    };
  }

  emit(event: string, ...args: unknown[]): void {
    this.socket?.emit(event, ...args);
  }

  /** Volatile emit: dropped rather than queued while disconnected (controls must never arrive late). */
  emitVolatile(event: string, ...args: unknown[]): void {
    this.socket?.volatile.emit(event, ...args);
  }

  /**
   * A frame ack in its binary form, straight on the connection: the relay reads it without the Socket.IO parser.
   * Dropped while disconnected (a reconnected watcher starts again anyway).
   */
  sendFrameAck(ack: FrameAck): void {
    if (this.socket?.connected) this.socket.io.engine.send(encodeFrameAck(ack));
  }

  call<T>(event: string, payload: unknown): Promise<T> {
    if (!this.socket?.connected) return Promise.reject(new Error('not connected'));
    return this.socket.timeout(5000).emitWithAck(event, payload) as Promise<T>;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /** Handlers registered before the socket existed are attached when it opens. */
  private readonly listeners = new Set<{ event: string; h: (...args: unknown[]) => void }>();

  private open(): void {
    this.status.set('connecting');
    this.notice.set(null);
    const socket = io(RELAY_NAMESPACE, {
      auth: (cb) => cb({ token: this.auth.currentToken() ?? '' }),
      transports: ['websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket = socket;
    this.clockTimer ??= setInterval(() => this.connected && void this.clock.sync().catch(() => undefined), 30_000);
    for (const { event, h } of this.listeners) socket.on(event, h);
    socket.on('connect', () => {
      this.status.set('connected');
      this.notice.set(null);
      void this.clock.sync().catch(() => undefined);
    });
    socket.on('disconnect', (reason) => {
      if (this.status() === 'kicked') return;
      this.status.set('reconnecting');
      // The server closed us (expired token, signed out): renew, then come back.
      if (reason === 'io server disconnect') void this.auth.refresh().then((t) => t && socket.connect());
    });
    socket.on('connect_error', (err) => {
      if (err.message === HANDSHAKE_UNAUTHORIZED) {
        void this.auth.refresh().then((t) => (t ? socket.connect() : this.close()));
        return;
      }
      const code = (err as { data?: Partial<HandshakeRefusal> }).data?.code;
      const maintenance = code === 'maintenance';
      this.status.set(maintenance || code === 'too-many-connections' ? 'refused' : 'reconnecting');
      if (maintenance) this.notice.set(err.message);
      // Too many tabs or devices of this account: said so, and tried again slowly (another may close meanwhile).
      else if (code === 'too-many-connections') {
        this.notice.set(err.message);
        setTimeout(() => this.socket === socket && !socket.connected && socket.connect(), 10_000 + Math.random() * 5000);
      }
      // Refused by the server for a moment (its database away or busy): the client does not retry that by itself.
      else if (!socket.active) setTimeout(() => this.socket === socket && !socket.connected && socket.connect(), 1000 + Math.random() * 1000);
    });
    socket.on(CONNECTIONS_EVENTS.kicked, (k: { message: string }) => {
      this.status.set('kicked');
      this.notice.set(k.message);
    });
    socket.on(CONNECTIONS_EVENTS.presence, (list: PresenceEntry[]) => this.presence.set(list));
  }

  /** The server's time now (epoch ms), as well as this browser can tell. */
  serverNow(): number {
    return this.clock.now();
  }

  private close(): void {
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = null;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    this.status.set('offline');
    this.presence.set([]);
  }
}
