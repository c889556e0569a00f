import { Inject, Injectable, Logger, NotFoundException, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { McapStreamReader, McapWriter } from '@mcap/core';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IsNull, LessThan, Not } from 'typeorm';
import { ClusterService } from '../cluster/cluster.service.js';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DatabaseService } from '../database/database.service.js';
import type { FrameMeta, Page, RelayedFrameMeta, RecordedControl, RecordedEvent, RecordingEndReason, RecordingsQuery, RecordingView } from '../protocol/index.js';
import { Vehicle } from '../vehicles/vehicle.entity.js';
import { CHUNK_BYTES, FileWritable } from './drive-recording.js';
import { RecorderThread, type Recorder } from './recorder-thread.js';
import { Recording, RecordingVehicle, toRecordingView } from './recording.entity.js';

const SWEEP_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Who drives: the account, and the session (connection log row) the drive belongs to. */
export interface Driver {
  userId: string;
  name: string;
  connectionId?: string;
}

/** A message for a recording on another instance, stamped where it happened. */
interface RemoteRecord {
  vehicleId: string;
  topic: 'controlForwarded' | 'telemetry';
  body: unknown;
  at: number;
}

/** A drive whose file is being opened: what happens meanwhile, in order. */
interface Opening {
  driverId: string;
  queue: ((file: Recorder) => void)[];
  /** Settles when the file is open and the queue written. */
  ready: Promise<void>;
}

/** Messages held while a file opens (milliseconds' worth in practice; a stalled disk must not grow memory). */
const OPENING_QUEUE_MAX = 20_000;

interface Live {
  row: Recording;
  file: Recorder;
}

/**
 * Drive recordings. The relay tells it what happens (a drive starts or ends, frames, controls, acks, telemetry,
 * safety events); while a recorded vehicle is driven, each drive goes to its own MCAP file. Never in the relay's
 * way: every call returns at once, and a failing disk ends that recording, not the drive.
 */
@Injectable()
export class RecordingsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('recordings');
  private readonly live = new Map<string, Live>();
  private readonly opening = new Map<string, Opening>();
  /** The files are written on a thread of their own, never in the relay's way. */
  private readonly thread = new RecorderThread();
  private readonly enabled = new Set<string>();
  /** Vehicles' names by id: a vehicle is never renamed, and each drive's row and file carry the name. */
  private readonly vehicleNames = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private startFrames: (vehicleId: string) => { meta: RelayedFrameMeta; bytes: Buffer }[] = () => [];
  /** On the vehicle's instance: the instance recording its drive when that is another one (the driver's). */
  private recorderOf: (vehicleId: string) => string | undefined = () => undefined;
  /** Told when a drive recorded here starts and when the last one ends, so its vehicle's frames reach this instance. */
  private feed: (vehicleId: string, on: boolean) => void = () => undefined;

  constructor(
    @Inject(CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly cluster: ClusterService,
  ) {}

  get dir(): string {
    return this.config.recordings.dir;
  }

  async onModuleInit(): Promise<void> {
    this.thread.onBehind = () =>
      this.logger.warn(`the recorder thread is behind: messages are dropped from recordings until it catches up (so far ${this.thread.framesDropped} frames, ${this.thread.messagesDropped} other messages)`);
    // What only the vehicle's instance sees (controls as forwarded, telemetry) reaches the driver's, which records.
    this.cluster.handle('rec', (m) => {
      const { vehicleId, topic, body, at } = m as unknown as RemoteRecord;
      if (topic === 'controlForwarded') this.queueOrWrite(vehicleId, (f) => f.controlForwarded(body as RecordedControl, at));
      else if (topic === 'telemetry') this.queueOrWrite(vehicleId, (f) => f.telemetry(body as Record<string, unknown>, at));
    });
    // Turning recording on or off for a vehicle holds on every instance.
    this.cluster.handle('recording-enabled', (m) => (m.on ? this.enabled.add(m.vehicleId as string) : this.enabled.delete(m.vehicleId as string)));
    await mkdir(this.dir, { recursive: true });
    for (const v of await this.db.dataSource.manager.find(RecordingVehicle)) this.enabled.add(v.vehicleId);
    await this.repairUnfinished();
    await this.sweep();
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...new Set([...this.live.keys(), ...this.opening.keys()])].map((id) => this.driveEnded(id, 'server-stopped')));
    await this.thread.stop();
  }

  /** The relay's video fan-out tells where a drive's first pictures come from (it depends on this module, not back). */
  useStartFrames(source: (vehicleId: string) => { meta: RelayedFrameMeta; bytes: Buffer }[]): void {
    this.startFrames = source;
  }

  /**
   * The relay's video fan-out brings a vehicle's frames here while its drive is recorded here, watched or not (the
   * vehicle may be connected to another instance, the driver to this one).
   */
  useFrameFeed(feed: (vehicleId: string, on: boolean) => void): void {
    this.feed = feed;
  }

  /** The driving rules tell, on a vehicle's instance, which instance holds its driver (and so its recording). */
  useRecorderOf(locate: (vehicleId: string) => string | undefined): void {
    this.recorderOf = locate;
  }

  isEnabled(vehicleId: string): boolean {
    return this.config.recordings.all || this.enabled.has(vehicleId);
  }

  /**
   * Whether a message of the vehicle may go into a recording, here or on the driver's instance: false lets the relay
   * skip building the record for the drives nobody records.
   */
  mayRecord(vehicleId: string): boolean {
    return this.isEnabled(vehicleId) || this.recording(vehicleId);
  }

  async setEnabled(vehicleId: string, on: boolean): Promise<void> {
    await this.db.transaction(async (m) => {
      if (!(await m.existsBy(Vehicle, { id: vehicleId }))) throw new NotFoundException('Vehicle not found');
      if (on) await m.upsert(RecordingVehicle, { vehicleId, enabledAt: new Date() }, ['vehicleId']);
      else await m.delete(RecordingVehicle, { vehicleId });
    });
    this.cluster.broadcast({ t: 'recording-enabled', vehicleId, on });
  }

  /**
   * A driver took a vehicle: a new file (the previous driver's drive ends as a takeover). Opening it takes a moment
   * (a row, a file); what happens meanwhile waits in order and is written once it is open, so the drive's first
   * control is in its file like every other.
   */
  driveStarted(vehicleId: string, driver: Driver): void {
    if (!this.isEnabled(vehicleId)) return;
    const current = this.live.get(vehicleId);
    const opening = this.opening.get(vehicleId);
    if ((opening ?? current?.row)?.driverId === driver.userId) return;
    const at = Date.now();
    // Mid-group P-frames alone would not decode: the file opens with the pictures a late watcher would start from,
    // taken now and logged when they were relayed (just before the drive); all that follows comes through the queue.
    const preroll = this.startFrames(vehicleId);
    const queue: Opening = { driverId: driver.userId, queue: [], ready: Promise.resolve() };
    this.opening.set(vehicleId, queue);
    this.feed(vehicleId, true);
    queue.ready = (async () => {
      if (current) await this.endLive(vehicleId, 'takeover');
      const file = await this.start(vehicleId, driver);
      for (const f of preroll) file.frame(f.meta, f.bytes, f.meta.relayedAt);
      file.event({ kind: 'acquire', by: driver.name }, at);
      for (const write of queue.queue) write(file);
    })()
      .catch((err) => this.logger.warn(`cannot start recording ${vehicleId}: ${(err as Error).message}`))
      .finally(() => {
        if (this.opening.get(vehicleId) === queue) this.opening.delete(vehicleId);
        if (!this.recording(vehicleId)) this.feed(vehicleId, false);
      });
  }

  /** The drive ended: its file is closed and its row completed (once it is open, if it is still opening). */
  async driveEnded(vehicleId: string, reason: RecordingEndReason): Promise<void> {
    const opening = this.opening.get(vehicleId);
    if (opening && reason === 'takeover') {
      // The drive taken over is the one before the drive being opened (which ends it too, whichever comes first).
      if (this.live.get(vehicleId)?.row.driverId !== opening.driverId) await this.endLive(vehicleId, reason);
      return;
    }
    await opening?.ready;
    await this.endLive(vehicleId, reason);
  }

  private async endLive(vehicleId: string, reason: RecordingEndReason): Promise<void> {
    const live = this.live.get(vehicleId);
    if (!live) return;
    this.live.delete(vehicleId);
    if (!this.opening.has(vehicleId)) this.feed(vehicleId, false);
    live.file.event({ kind: 'end', reason });
    const bytes = await live.file.close().catch(() => 0);
    if (live.file.error) this.logger.warn(`recording ${live.row.id} stopped early: ${live.file.error.message}`);
    await this.db.dataSource.manager
      .update(Recording, { id: live.row.id }, { endedAt: new Date(), bytes, endReason: reason })
      .catch((err) => this.logger.warn(`cannot close recording ${live.row.id}: ${(err as Error).message}`));
  }

  /** Whether the vehicle's drive is being recorded (its file open, or opening). */
  recording(vehicleId: string): boolean {
    return this.live.has(vehicleId) || this.opening.has(vehicleId);
  }

  // Each message goes straight to the vehicle's open file, stamped now; while the file opens, into its queue. The
  // relay calls these for every message of every drive: one that is not recorded costs two lookups, no allocation.

  frame(vehicleId: string, meta: FrameMeta, bytes: Buffer): void {
    const f = this.fileOf(vehicleId);
    if (f) f.frame(meta, bytes, Date.now());
    else if (f === null) this.queue(vehicleId, (file, at) => file.frame(meta, bytes, at));
  }

  /** Frames relayed earlier (a group to start from), logged when they were relayed. */
  framesRelayed(vehicleId: string, frames: { meta: RelayedFrameMeta; bytes: Buffer }[]): void {
    for (const f of frames) this.queueOrWrite(vehicleId, (file) => file.frame(f.meta, f.bytes, f.meta.relayedAt));
  }

  controlReceived(vehicleId: string, c: RecordedControl): void {
    const f = this.fileOf(vehicleId);
    if (f) f.controlReceived(c, Date.now());
    else if (f === null) this.queue(vehicleId, (file, at) => file.controlReceived(c, at));
  }

  controlForwarded(vehicleId: string, c: RecordedControl): void {
    const f = this.fileOf(vehicleId);
    if (f) f.controlForwarded(c, Date.now());
    else if (f === null) this.queue(vehicleId, (file, at) => file.controlForwarded(c, at));
    else this.remote(vehicleId, 'controlForwarded', c);
  }

  controlAck(vehicleId: string, seq: number, rttMs: number): void {
    const f = this.fileOf(vehicleId);
    if (f === undefined) return;
    const a = { seq, rttMs: Math.round(rttMs * 1000) / 1000 };
    if (f) f.controlAck(a, Date.now());
    else this.queue(vehicleId, (file, at) => file.controlAck(a, at));
  }

  telemetry(vehicleId: string, t: Record<string, unknown>): void {
    const f = this.fileOf(vehicleId);
    if (f) f.telemetry(t, Date.now());
    else if (f === null) this.queue(vehicleId, (file, at) => file.telemetry(t, at));
    else this.remote(vehicleId, 'telemetry', t);
  }

  event(vehicleId: string, e: RecordedEvent): void {
    this.queueOrWrite(vehicleId, (file, at) => file.event(e, at));
  }

  /** The vehicle's open file; null while one opens (messages wait in its queue); undefined when it is not recorded here. */
  private fileOf(vehicleId: string): Recorder | null | undefined {
    return this.opening.has(vehicleId) ? null : this.live.get(vehicleId)?.file;
  }

  /** Into the queue of the file being opened: stamped now, written then. */
  private queue(vehicleId: string, write: (file: Recorder, at: number) => void): void {
    const opening = this.opening.get(vehicleId)!;
    if (opening.queue.length >= OPENING_QUEUE_MAX) return;
    const at = Date.now();
    opening.queue.push((file) => write(file, at));
  }

  private queueOrWrite(vehicleId: string, write: (file: Recorder, at: number) => void): void {
    const f = this.fileOf(vehicleId);
    if (f) write(f, Date.now());
    else if (f === null) this.queue(vehicleId, write);
  }

  /** To the driver's instance, when the drive of a vehicle not recorded here is recorded there. */
  private remote(vehicleId: string, topic: RemoteRecord['topic'], body: unknown): void {
    if (!this.isEnabled(vehicleId)) return;
    const recorder = this.recorderOf(vehicleId);
    if (!recorder || recorder === this.cluster.instanceId) return;
    const record: RemoteRecord = { vehicleId, topic, body, at: Date.now() };
    this.cluster.send(recorder, { t: 'rec', ...record });
  }

  // ---- the recordings as files and rows ----------------------------------------------------------------------------

  async list(q: RecordingsQuery): Promise<Page<RecordingView>> {
    const qb = this.db.dataSource.manager.createQueryBuilder(Recording, 'r').orderBy('r.startedAt', 'DESC');
    if (q.vehicleId) qb.andWhere('r.vehicleId = :vehicleId', { vehicleId: q.vehicleId });
    if (q.driverId) qb.andWhere('r.driverId = :driverId', { driverId: q.driverId });
    if (q.connectionIds) qb.andWhere('r.connectionId IN (:...connectionIds)', { connectionIds: q.connectionIds });
    if (q.from) qb.andWhere('r.startedAt >= :from', { from: q.from });
    if (q.to) qb.andWhere('r.startedAt <= :to', { to: q.to });
    const [rows, total] = await qb.skip((q.page - 1) * q.pageSize).take(q.pageSize).getManyAndCount();
    return { items: rows.map(toRecordingView), total, page: q.page, pageSize: q.pageSize };
  }

  async get(id: string): Promise<RecordingView> {
    return toRecordingView(await this.mustFind(id));
  }

  /** The file of a recording, by its id only: a request never names a path. */
  async file(id: string): Promise<{ path: string; size: number; name: string; inProgress: boolean }> {
    const row = await this.mustFind(id);
    const path = this.pathOf(row.id);
    const { size } = await stat(path).catch(() => {
      // Several instances need one RECORDINGS_DIR between them: each writes the drives of its own drivers.
      if (row.instanceId !== this.cluster.instanceId) throw new NotFoundException(`The recording’s file is not here: instance ${row.instanceId} wrote it, and RECORDINGS_DIR is not shared`);
      throw new NotFoundException('The recording’s file is gone');
    });
    const name = `${row.vehicleName.replace(/[^A-Za-z0-9._-]+/g, '_')}-${row.startedAt.toISOString().replace(/[:.]/g, '-')}.mcap`;
    return { path, size, name, inProgress: !row.endedAt };
  }

  async remove(id: string): Promise<void> {
    const row = await this.mustFind(id);
    if (!row.endedAt && this.live.get(row.vehicleId)?.row.id === id) await this.driveEnded(row.vehicleId, 'released');
    // Of several deletes at once, one removes the row; the others find it gone, as a later one would.
    const res = await this.db.transaction((m) => m.delete(Recording, { id }));
    if (!res.affected) throw new NotFoundException('Recording not found');
    await rm(this.pathOf(id), { force: true });
  }

  /** Retention, then the disk budget: oldest first, never a recording in progress. */
  async sweep(now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const m = this.db.dataSource.manager;
    const old = await m.find(Recording, { where: { endedAt: Not(IsNull()), startedAt: LessThan(new Date(now - this.config.recordings.retentionDays * DAY_MS)) } });
    for (const r of old) removed.push(await this.drop(r));
    const done = await m.find(Recording, { where: { endedAt: Not(IsNull()) }, order: { startedAt: 'ASC' } });
    const liveBytes = await Promise.all([...this.live.values()].map((l) => stat(l.file.path).then((s) => s.size, () => 0)));
    let total = done.reduce((s, r) => s + r.bytes, 0) + liveBytes.reduce((a, b) => a + b, 0);
    for (const r of done) {
      if (total <= this.config.recordings.maxBytes) break;
      total -= r.bytes;
      removed.push(await this.drop(r));
    }
    if (removed.length) this.logger.log(`removed ${removed.length} recording(s) (retention ${this.config.recordings.retentionDays} d, budget ${this.config.recordings.maxBytes} B)`);
    return removed;
  }

  private async drop(r: Recording): Promise<string> {
    await this.db.transaction((m) => m.delete(Recording, { id: r.id }));
    await rm(this.pathOf(r.id), { force: true });
    return r.id;
  }

  private pathOf(id: string): string {
    // ids are uuids made here (and checked by the route's schema): the name can never leave the directory.
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new NotFoundException('Recording not found');
    return join(this.dir, `${id}.mcap`);
  }

  private async mustFind(id: string): Promise<Recording> {
    const row = await this.db.dataSource.manager.findOneBy(Recording, { id });
    if (!row) throw new NotFoundException('Recording not found');
    return row;
  }

  private async start(vehicleId: string, driver: Driver): Promise<Recorder> {
    let vehicleName = this.vehicleNames.get(vehicleId);
    if (vehicleName === undefined) {
      const vehicle = await this.db.dataSource.manager.findOneBy(Vehicle, { id: vehicleId });
      vehicleName = vehicle?.name ?? vehicleId;
      if (vehicle) this.vehicleNames.set(vehicleId, vehicleName);
    }
    const row: Recording = {
      id: randomUUID(),
      vehicleId,
      vehicleName,
      driverId: driver.userId,
      driverName: driver.name,
      connectionId: driver.connectionId ?? null,
      instanceId: this.cluster.instanceId,
      startedAt: new Date(),
      endedAt: null,
      bytes: 0,
      endReason: null,
      repaired: false,
    };
    // The row first: a file the server crashes on is always known, and repaired on the next start.
    // One statement, atomic on its own; the row is complete as given, so nothing is read back after it.
    await this.db.dataSource.createQueryBuilder().insert().into(Recording).values(row).updateEntity(false).execute();
    const file = await this.thread.create(this.pathOf(row.id), { vehicleId, vehicle: row.vehicleName, driverId: driver.userId, driver: driver.name, startedAt: row.startedAt.toISOString() });
    this.live.set(vehicleId, { row, file });
    return file;
  }

  /** Files this instance left unfinished (a crash): rewritten from what reached the disk, with a fresh index. */
  private async repairUnfinished(): Promise<void> {
    const rows = await this.db.dataSource.manager.find(Recording, { where: { endedAt: IsNull(), instanceId: this.cluster.instanceId } });
    for (const row of rows) {
      const path = this.pathOf(row.id);
      let bytes = 0;
      let endedAt = row.startedAt;
      try {
        ({ bytes, lastLogTime: endedAt } = await repairMcap(path, row.startedAt));
      } catch (err) {
        this.logger.warn(`cannot repair recording ${row.id}: ${(err as Error).message}`);
      }
      await this.db.transaction((m) => m.update(Recording, { id: row.id }, { endedAt, bytes, endReason: 'server-crash', repaired: true }));
      this.logger.log(`repaired recording ${row.id} (${bytes} bytes)`);
    }
  }
}

/**
 * Rewrites a truncated MCAP file: every whole record that reached the disk, read as a stream (a block at a time,
 * never the whole file), written again with its summary and index. Returns the new size and the last log time.
 */
export async function repairMcap(path: string, fallbackTime: Date): Promise<{ bytes: number; lastLogTime: Date }> {
  const tmp = `${path}.repair`;
  const out = await open(tmp, 'w', 0o640);
  const writer = new McapWriter({ writable: new FileWritable(out), chunkSize: CHUNK_BYTES });
  const reader = new McapStreamReader({ validateCrcs: true });
  const schemas = new Map<number, number>();
  const channels = new Map<number, number>();
  let last = BigInt(fallbackTime.getTime()) * 1_000_000n;
  let started = false;
  const drain = async () => {
    for (;;) {
      let rec;
      try {
        rec = reader.nextRecord();
      } catch {
        return false; // a torn record: what follows is unreadable
      }
      if (!rec) return true;
      if (rec.type === 'Header') {
        await writer.start({ profile: rec.profile, library: rec.library });
        started = true;
      } else if (!started) continue;
      else if (rec.type === 'Schema') schemas.set(rec.id, await writer.registerSchema({ name: rec.name, encoding: rec.encoding, data: rec.data }));
      else if (rec.type === 'Channel') channels.set(rec.id, await writer.registerChannel({ topic: rec.topic, schemaId: schemas.get(rec.schemaId) ?? 0, messageEncoding: rec.messageEncoding, metadata: rec.metadata }));
      else if (rec.type === 'Metadata') await writer.addMetadata({ name: rec.name, metadata: rec.metadata });
      else if (rec.type === 'Message') {
        const channelId = channels.get(rec.channelId);
        if (channelId === undefined) continue;
        await writer.addMessage({ ...rec, channelId });
        if (rec.logTime > last) last = rec.logTime;
      }
    }
  };
  try {
    for await (const block of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      reader.append(block as Buffer);
      if (!(await drain())) break;
    }
    if (!started) await writer.start({ profile: '', library: 'vicer (repaired)' });
    await writer.end();
  } finally {
    await out.close();
  }
  await rename(tmp, path);
  const { size } = await stat(path);
  return { bytes: size, lastLogTime: new Date(Number(last / 1_000_000n)) };
}
