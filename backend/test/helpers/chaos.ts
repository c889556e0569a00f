import { randomBytes } from 'node:crypto';
import type { AppliedCommand } from '../../../apps/vehicle/agent.js';
import { runAgent, waitFor, type RunningAgent } from './agent.js';
import { startCluster, startRedis, type TestCluster } from './cluster.js';
import type { TestDatabase } from './databases.js';
import { http } from './process.js';
import { connectPeer, sleep, type Peer } from './sockets.js';

/**
 * A rig for the chaos tier: two instances on PostgreSQL with a Redis of their own, the Node agent on instance 1
 * writing every command it applies, a driver and a watcher on instance 2. Faults are made by the scenario; the
 * verdict comes from the vehicle's own log.
 */
export interface Rig {
  c: TestCluster;
  redis: Awaited<ReturnType<typeof startRedis>>;
  admin: string;
  vehicle: { id: string; token: string };
  driverToken: string;
  agent: RunningAgent;
  /** Starts the agent again (after a kill), on instance 1. */
  restartAgent(): Promise<RunningAgent>;
  stop(): Promise<void>;
}

export async function startRig(opts: { db?: TestDatabase; env?: Record<string, string> } = {}): Promise<Rig> {
  const redis = await startRedis();
  const c = await startCluster({ instances: 2, redis, db: opts.db, env: opts.env });
  const admin = await c.admin();
  const v = (await http(c.url('i1'), 'POST', '/api/vehicles', { token: admin, body: { name: `chaos-${randomBytes(3).toString('hex')}` } })).body as { id: string; token: string };
  const email = `driver-${randomBytes(3).toString('hex')}@example.com`;
  await http(c.url('i2'), 'POST', '/api/auth/signup', { body: { email, password: 'password-123', name: 'Dana' } });
  const driverToken = (await http(c.url('i2'), 'POST', '/api/auth/login', { body: { email, password: 'password-123' } })).body.accessToken as string;
  const agents: RunningAgent[] = [];
  const spawnAgent = async () => {
    const a = runAgent(['--server', c.url('i1'), '--token', v.token, '--codec', 'jpeg', '--fps', '5', '--size', '96x64', '--controls-out', '-', '--name', 'chaos']);
    agents.push(a);
    await waitFor(() => (/connected to/.test(a.stderr()) ? true : undefined), 20_000);
    return a;
  };
  const rig: Rig = {
    c,
    redis,
    admin,
    vehicle: v,
    driverToken,
    agent: await spawnAgent(),
    async restartAgent() {
      rig.agent.child.kill('SIGKILL');
      await rig.agent.exited;
      rig.agent = await spawnAgent();
      return rig.agent;
    },
    async stop() {
      for (const a of agents) a.child.kill('SIGKILL');
      for (const p of c.instances) if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill('SIGCONT');
      redis.resume();
      await c.stop();
      await redis.stop();
    },
  };
  return rig;
}

/** A driver that sends 30 controls a second (throttle 0.5) for as long as it runs, and notes every revocation. */
export class Driver {
  readonly revoked: { at: number; reason: string }[] = [];
  private seq = 0;
  private timer?: NodeJS.Timeout;

  private constructor(
    readonly peer: Peer,
    readonly vehicleId: string,
  ) {
    peer.socket.on('drive:revoked', (r: { reason: string }) => this.revoked.push({ at: Date.now(), reason: r.reason }));
    // A socket that closes ends its seat, however it closed.
    peer.socket.on('disconnect', () => this.revoked.push({ at: Date.now(), reason: 'disconnected' }));
    // A refusal by the server's own rules (it is still starting, say) is not retried by the client by itself.
    peer.socket.on('connect_error', () => !peer.socket.active && setTimeout(() => peer.socket.connect(), 500));
  }

  static async connect(url: string, token: string, vehicleId: string): Promise<Driver> {
    return new Driver(await connectPeer(url, { token }, { reconnection: true }), vehicleId);
  }

  async acquire(): Promise<{ ok: boolean; error?: { code: string } }> {
    return this.peer.call('drive:acquire', { vehicleId: this.vehicleId }).catch((err: Error) => ({ ok: false, error: { code: err.message } }));
  }

  /** Acquires until granted (a fault may still be clearing), at most `timeoutMs`. */
  async acquireUntilGranted(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.acquire()).ok) return;
      if (Date.now() > end) throw new Error('the seat was never granted');
      await sleep(200);
    }
  }

  drive(): void {
    this.timer ??= setInterval(() => {
      if (this.peer.socket.connected) this.peer.socket.emit('control', { vehicleId: this.vehicleId, seq: ++this.seq, throttle: 0.5, steer: 0, sentAt: Date.now() });
    }, 33);
  }

  halt(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.halt();
    this.peer.close();
  }
}

export const moving = (l: AppliedCommand) => l.reason === 'control' && (l.throttle !== 0 || l.steer !== 0);

/**
 * The invariants, read from the vehicle's log of applied commands (and the times the test knows of):
 * - no moving command while an e-stop is latched (as the log shows it, and in `latched` intervals the test made);
 * - every moving command carries the token of the current seat (announced by `seat`, not ended by `stop`);
 * - no moving command of a seat after that seat ended for its driver (`ends`: when the driver was told);
 * - after the last moving command of a run, the vehicle is stopped (a zero line follows).
 */
export function violations(lines: AppliedCommand[], facts: { ends?: number[]; latched?: { from: number; to: number }[] } = {}): string[] {
  const out: string[] = [];
  let latched = false;
  let fence: number | null = null;
  let seatAt = 0;
  for (const l of lines) {
    if (l.reason === 'estop') latched = true;
    else if (l.reason === 'estop-clear') latched = false;
    else if (l.reason === 'seat') {
      fence = l.fence ?? null;
      seatAt = l.at;
    } else if (l.reason === 'stop' || l.reason === 'disconnected' || l.reason === 'shutdown') fence = null;
    if (!moving(l)) continue;
    const what = `throttle ${l.throttle} at ${l.at} (seq ${l.seq}, token ${l.fence})`;
    if (latched) out.push(`${what}: applied while the log shows the e-stop latched`);
    if (facts.latched?.some((i) => l.at > i.from && l.at < i.to)) out.push(`${what}: applied while the e-stop was latched`);
    if (fence === null || l.fence !== fence) out.push(`${what}: applied without the current seat's token (${fence})`);
    const end = facts.ends?.find((e) => e > seatAt && e < l.at);
    if (end !== undefined) out.push(`${what}: applied ${l.at - end} ms after its seat ended for the driver`);
  }
  const last = lines.findLastIndex(moving);
  if (last >= 0 && !lines.slice(last + 1).some((l) => l.throttle === 0 && l.steer === 0)) out.push('the vehicle was left moving');
  return out;
}

/** How long the vehicle took to stop after each run of moving commands ended (ms), for the record. */
export function stopDelays(lines: AppliedCommand[]): { after: number; reason: string; ms: number }[] {
  const out: { after: number; reason: string; ms: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!moving(lines[i]) || (lines[i + 1] && moving(lines[i + 1]))) continue;
    const stop = lines.slice(i + 1).find((l) => l.reason !== 'seat' && l.reason !== 'estop-clear');
    if (stop) out.push({ after: lines[i].at, reason: stop.reason, ms: stop.at - lines[i].at });
  }
  return out;
}

/** Polls until `probe` holds (the state converged), at most `boundMs` — the bound docs/deploy.md gives. */
export async function converges(probe: () => Promise<boolean>, boundMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > boundMs) throw new Error(`did not converge within ${boundMs} ms`);
    await sleep(100);
  }
}
