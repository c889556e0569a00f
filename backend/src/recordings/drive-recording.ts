import { McapWriter, type IWritable, type McapTypes } from '@mcap/core';
import { open, type FileHandle } from 'node:fs/promises';
import { RECORDING_TOPICS, type FrameMeta, type RecordedControl, type RecordedControlAck, type RecordedEvent } from '../protocol/index.js';

type Message = McapTypes.Message;
const SLICE = 32;

/** Small chunks: with video flowing one fills in well under a second, so a crash loses about that much. */
export const CHUNK_BYTES = 64 * 1024;

/** Appends to a file; the MCAP writer awaits each write, so at most one chunk is ever in memory. */
export class FileWritable implements IWritable {
  #position = 0n;
  constructor(private readonly file: FileHandle) {}
  async write(buffer: Uint8Array): Promise<void> {
    await this.file.write(buffer);
    this.#position += BigInt(buffer.byteLength);
  }
  position(): bigint {
    return this.#position;
  }
}

const time = (ms: number) => ({ sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) });
const ns = (ms: number) => BigInt(Math.round(ms * 1e6));
const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

const TIME = { type: 'object', properties: { sec: { type: 'integer', minimum: 0 }, nsec: { type: 'integer', minimum: 0, maximum: 999999999 } } };
/** Foxglove's own schemas (JSON Schema encoding), by the names Foxglove looks for. */
const FOXGLOVE_VIDEO = {
  title: 'foxglove.CompressedVideo',
  type: 'object',
  properties: { timestamp: TIME, frame_id: { type: 'string' }, data: { type: 'string', contentEncoding: 'base64' }, format: { type: 'string' } },
};
const FOXGLOVE_IMAGE = { ...FOXGLOVE_VIDEO, title: 'foxglove.CompressedImage' };
const num = { type: 'number' };
const CONTROL = { title: 'vicer.Control', type: 'object', properties: { seq: num, throttle: num, steer: num, sentAt: num, driverId: { type: 'string' }, driver: { type: 'string' } } };
const CONTROL_ACK = { title: 'vicer.ControlAck', type: 'object', properties: { seq: num, rttMs: num } };
const TELEMETRY = { title: 'vicer.Telemetry', type: 'object', additionalProperties: true, properties: { speed: num, heading: num, x: num, y: num, battery: num } };
const EVENT = { title: 'vicer.SafetyEvent', type: 'object', properties: { kind: { type: 'string' }, by: { type: 'string' }, reason: { type: 'string' } } };

/**
 * One drive written as MCAP while it happens: chunked and indexed, one chunk in memory at most. Calls are queued so
 * the writer (which must not be re-entered) sees them one by one; a failed write stops the recording, never the relay.
 */
export class DriveRecording {
  /** Messages waiting for the writer, drained by one loop (not a promise chain per message). */
  private pending: Message[] = [];
  private draining: Promise<void> | null = null;
  private channels: Record<keyof typeof RECORDING_TOPICS, number> | null = null;
  private seq = 0;
  private failed: Error | null = null;
  private closed = false;
  /** The parameter sets of the current H.264 stream, Annex B, put before each key frame. */
  private parameterSets: Buffer | null = null;
  private lastDescription: string | null = null;

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly writer: McapWriter,
  ) {}

  static async create(path: string, meta: Record<string, string>): Promise<DriveRecording> {
    const file = await open(path, 'wx', 0o640);
    const writer = new McapWriter({ writable: new FileWritable(file), chunkSize: CHUNK_BYTES });
    const rec = new DriveRecording(path, file, writer);
    await writer.start({ profile: '', library: 'vicer' });
    const schema = (s: { title: string }) => writer.registerSchema({ name: s.title, encoding: 'jsonschema', data: json(s) });
    const channel = (topic: string, schemaId: number) => writer.registerChannel({ topic, schemaId, messageEncoding: 'json', metadata: new Map() });
    const [video, image, control, ack, telemetry, event] = [
      await schema(FOXGLOVE_VIDEO),
      await schema(FOXGLOVE_IMAGE),
      await schema(CONTROL),
      await schema(CONTROL_ACK),
      await schema(TELEMETRY),
      await schema(EVENT),
    ];
    rec.channels = {
      video: await channel(RECORDING_TOPICS.video, video),
      image: await channel(RECORDING_TOPICS.image, image),
      controlReceived: await channel(RECORDING_TOPICS.controlReceived, control),
      controlForwarded: await channel(RECORDING_TOPICS.controlForwarded, control),
      controlAck: await channel(RECORDING_TOPICS.controlAck, ack),
      telemetry: await channel(RECORDING_TOPICS.telemetry, telemetry),
      events: await channel(RECORDING_TOPICS.events, event),
    };
    await writer.addMetadata({ name: 'vicer.drive', metadata: new Map(Object.entries(meta)) });
    return rec;
  }

  get error(): Error | null {
    return this.failed;
  }

  frame(meta: FrameMeta, bytes: Buffer, at = Date.now()): void {
    const stamp = meta.capturedAt;
    if (meta.codec === 'h264') {
      if (meta.key && meta.config && meta.config.description !== this.lastDescription) {
        this.lastDescription = meta.config.description;
        this.parameterSets = parameterSetsOf(Buffer.from(meta.config.description, 'base64'));
      }
      const annexB = avccToAnnexB(bytes, meta.key && this.parameterSets ? this.parameterSets : null);
      if (!annexB) return;
      this.add('video', at, { timestamp: time(stamp), frame_id: 'camera', data: annexB.toString('base64'), format: 'h264' });
    } else this.add('image', at, { timestamp: time(stamp), frame_id: 'camera', data: bytes.toString('base64'), format: 'jpeg' });
  }

  controlReceived(c: RecordedControl, at = Date.now()): void {
    this.add('controlReceived', at, c);
  }

  controlForwarded(c: RecordedControl, at = Date.now()): void {
    this.add('controlForwarded', at, c);
  }

  controlAck(a: RecordedControlAck, at = Date.now()): void {
    this.add('controlAck', at, a);
  }

  telemetry(t: Record<string, unknown>, at = Date.now()): void {
    this.add('telemetry', at, t);
  }

  event(e: RecordedEvent, at = Date.now()): void {
    this.add('events', at, e);
  }

  /** A message already encoded as JSON (as the writer thread gets telemetry and events, and builds controls). */
  encoded(kind: Exclude<keyof typeof RECORDING_TOPICS, 'video' | 'image'>, data: Uint8Array, at: number): void {
    this.addData(kind, at, data);
  }

  /** Resolves once every message given so far has reached the writer (a bench paces a drive with it). */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Writes the summary and index and closes the file; resolves with its size. */
  async close(): Promise<number> {
    const first = !this.closed;
    this.closed = true;
    await this.draining;
    if (first && !this.failed) await this.writer.end().catch((err: Error) => (this.failed ??= err));
    const { size } = await this.file.stat();
    await this.file.close().catch(() => undefined);
    return size;
  }

  private add(channel: keyof typeof RECORDING_TOPICS, at: number, body: unknown): void {
    this.addData(channel, at, json(body));
  }

  private addData(channel: keyof typeof RECORDING_TOPICS, at: number, data: Uint8Array): void {
    if (this.closed || this.failed || !this.channels) return;
    const time = ns(at);
    this.pending.push({ channelId: this.channels[channel], sequence: this.seq++, logTime: time, publishTime: time, data });
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      // The writer must not be re-entered: one message at a time, in order. A backlog is written in slices, giving
      // the event loop back between them, so a busy recorder never holds up the relay's sockets.
      let n = 0;
      for (let m = this.pending.shift(); m && !this.failed; m = this.pending.shift()) {
        await this.writer.addMessage(m);
        if (++n % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      }
    } catch (err) {
      this.failed ??= err as Error;
    } finally {
      this.pending = [];
      this.draining = null;
    }
  }
}

/** SPS and PPS of an avcC record, each behind a start code. */
export function parameterSetsOf(avcc: Buffer): Buffer | null {
  if (avcc.length < 7 || avcc[0] !== 1) return null;
  const out: Buffer[] = [];
  let p = 5;
  // The SPS count (low 5 bits), its units, then the PPS count and its units; each unit is 16-bit length-prefixed.
  for (const countMask of [0x1f, 0xff]) {
    if (p >= avcc.length) return null;
    const count = avcc[p++] & countMask;
    for (let i = 0; i < count; i++) {
      if (p + 2 > avcc.length) return null;
      const len = avcc.readUInt16BE(p);
      p += 2;
      if (p + len > avcc.length) return null;
      out.push(START, avcc.subarray(p, p + len));
      p += len;
    }
  }
  return Buffer.concat(out);
}

const START = Buffer.from([0, 0, 0, 1]);

/** An access unit of 4-byte length-prefixed NAL units (as relayed) as Annex B; null when the lengths do not add up. */
export function avccToAnnexB(au: Buffer, prefix: Buffer | null): Buffer | null {
  const parts: Buffer[] = prefix ? [prefix] : [];
  let p = 0;
  while (p < au.length) {
    if (p + 4 > au.length) return null;
    const len = au.readUInt32BE(p);
    p += 4;
    if (len === 0 || p + len > au.length) return null;
    parts.push(START, au.subarray(p, p + len));
    p += len;
  }
  return Buffer.concat(parts);
}
