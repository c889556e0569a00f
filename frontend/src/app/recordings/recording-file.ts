import { type HttpClient } from '@angular/common/http';
import { McapIndexedReader, type IReadable } from '@mcap/core';
import { RECORDING_TOPICS, type RecordedControl, type RecordedControlAck, type RecordedEvent } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';

/** Reads go to the server in aligned blocks: the reader asks chunk by chunk, and one request serves many chunks. */
const BLOCK = 1024 * 1024;
/**
 * Blocks kept in the page once read (the oldest dropped first): the timeline pass reads every chunk and the pictures
 * read them again, so a drive of several minutes crosses the network once.
 */
const CACHE_BLOCKS = 64;

/** A recording file read through HTTP `Range` requests: only the parts asked for cross the network. */
export class HttpRangeReadable implements IReadable {
  #size: bigint | null = null;
  readonly #blocks = new Map<bigint, Promise<Uint8Array>>();
  /** Bytes fetched so far (what the player cost the network). */
  fetched = 0;

  constructor(
    private readonly http: HttpClient,
    private readonly url: string,
  ) {}

  async size(): Promise<bigint> {
    if (this.#size === null) {
      const res = await firstValueFrom(this.http.get(this.url, { headers: { Range: 'bytes=0-0' }, responseType: 'arraybuffer', observe: 'response' }));
      const total = /\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '')?.[1];
      if (!total) throw new Error('the server does not serve byte ranges');
      this.#size = BigInt(total);
    }
    return this.#size;
  }

  async read(offset: bigint, size: bigint): Promise<Uint8Array> {
    if (size === 0n) return new Uint8Array(0);
    const total = await this.size();
    const block = BigInt(BLOCK);
    const [first, last] = [offset / block, (offset + size - 1n) / block];
    const blocks = await Promise.all(Array.from({ length: Number(last - first) + 1 }, (_, i) => this.block(first + BigInt(i), total)));
    if (blocks.length === 1) {
      const start = Number(offset - first * block);
      return blocks[0].subarray(start, start + Number(size));
    }
    const out = new Uint8Array(Number(size));
    let at = 0;
    for (const [i, b] of blocks.entries()) {
      const from = i === 0 ? Number(offset - first * block) : 0;
      const part = b.subarray(from, Math.min(b.length, from + out.length - at));
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** One aligned block, fetched once while it is kept (concurrent reads of it share the request). */
  private block(n: bigint, total: bigint): Promise<Uint8Array> {
    const hit = this.#blocks.get(n);
    if (hit) return hit;
    const from = n * BigInt(BLOCK);
    const to = (from + BigInt(BLOCK) < total ? from + BigInt(BLOCK) : total) - 1n;
    const p = firstValueFrom(this.http.get(this.url, { headers: { Range: `bytes=${from}-${to}` }, responseType: 'arraybuffer' })).then((res) => {
      this.fetched += res.byteLength;
      return new Uint8Array(res);
    });
    p.catch(() => this.#blocks.delete(n));
    this.#blocks.set(n, p);
    if (this.#blocks.size > CACHE_BLOCKS) this.#blocks.delete(this.#blocks.keys().next().value!);
    return p;
  }
}

/** Milliseconds since the start of the recording. */
export type Ms = number;

export interface TracePoint {
  t: Ms;
  throttle: number;
  steer: number;
}
export interface FrameEntry {
  t: Ms;
  logTime: bigint;
  /** H.264: a key frame (decoding can start here); JPEG frames all are. */
  key: boolean;
}
export interface EventEntry extends RecordedEvent {
  t: Ms;
}

/** Everything but the pictures, in log-time order: small enough to hold for the whole drive. */
export interface Timeline {
  start: bigint;
  duration: Ms;
  codec: 'h264' | 'jpeg' | null;
  frames: FrameEntry[];
  received: TracePoint[];
  forwarded: TracePoint[];
  acks: ({ t: Ms } & RecordedControlAck)[];
  telemetry: { t: Ms; values: Record<string, unknown> }[];
  events: EventEntry[];
}

const text = new TextDecoder();
const json = (data: Uint8Array): unknown => JSON.parse(text.decode(data));

export function base64Bytes(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The NAL unit types of an Annex B access unit, in order. */
export function nalTypes(au: Uint8Array): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      types.push(au[i + 3] & 0x1f);
      i += 3;
    }
  }
  return types;
}

/**
 * Whether an Annex B access unit starts a decodable sequence: an IDR slice, or the sequence parameter set that the
 * recorder puts before every key frame (seen first, when only the start of the unit is read).
 */
export const isKeyUnit = (au: Uint8Array): boolean => nalTypes(au).some((t) => t === 5 || t === 7);

/** The WebCodecs codec string (`avc1.PPCCLL`) from the sequence parameter set of an Annex B key frame. */
export function avcCodecOf(au: Uint8Array): string | null {
  for (let i = 0; i + 7 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && (au[i + 3] & 0x1f) === 7) {
      const hex = (b: number) => b.toString(16).padStart(2, '0');
      return `avc1.${hex(au[i + 4])}${hex(au[i + 5])}${hex(au[i + 6])}`;
    }
  }
  return null;
}

/** The index of the last entry at or before `t` (-1 when none): entries are sorted by `t`. */
export function lastAtOrBefore<T extends { t: Ms }>(entries: readonly T[], t: Ms): number {
  let lo = 0;
  let hi = entries.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].t <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

const toTrace = (t: Ms, c: RecordedControl): TracePoint => ({ t, throttle: c.throttle, steer: c.steer });

/** How far into the video data a frame's `data` string is read to tell a key frame (the NAL headers come first). */
const KEY_PREFIX_CHARS = 160;

/** An opened recording: the index (read first), the timeline, and the pictures on demand. */
export class RecordingFile {
  private constructor(
    readonly reader: McapIndexedReader,
    readonly readable: HttpRangeReadable,
    readonly timeline: Timeline,
  ) {}

  /** Reads the summary, then every chunk once for the timeline (frames are indexed, not kept). */
  static async open(http: HttpClient, url: string, progress?: (fraction: number) => void): Promise<RecordingFile> {
    const readable = new HttpRangeReadable(http, url);
    const reader = await McapIndexedReader.Initialize({ readable });
    const start = reader.statistics?.messageStartTime ?? reader.chunkIndexes[0]?.messageStartTime ?? 0n;
    const end = reader.statistics?.messageEndTime ?? reader.chunkIndexes.at(-1)?.messageEndTime ?? start;
    // Whole microseconds first: log times are nanoseconds, and a float division would make 1853 ms 1852.99…
    const ms = (logTime: bigint): Ms => Number((logTime - start) / 1000n) / 1000;
    const topics = new Map([...reader.channelsById].map(([id, c]) => [id, c.topic]));
    const timeline: Timeline = { start, duration: ms(end), codec: null, frames: [], received: [], forwarded: [], acks: [], telemetry: [], events: [] };
    const span = Number(end - start) || 1;
    let reported = -1;
    // A vehicle may have sent JPEG beside its H.264 (for a viewer without WebCodecs): the player shows the H.264.
    const [h264, jpeg]: FrameEntry[][] = [[], []];
    for await (const m of reader.readMessages()) {
      const t = ms(m.logTime);
      switch (topics.get(m.channelId)) {
        case RECORDING_TOPICS.video: {
          // Only the first bytes are decoded: parameter sets and the slice header lead every access unit.
          const head = /"data":"([A-Za-z0-9+/]{0,160})/.exec(text.decode(m.data.subarray(0, 640)))?.[1] ?? '';
          const prefix = head.slice(0, Math.floor(Math.min(head.length, KEY_PREFIX_CHARS) / 4) * 4);
          h264.push({ t, logTime: m.logTime, key: prefix ? isKeyUnit(base64Bytes(prefix)) : false });
          break;
        }
        case RECORDING_TOPICS.image:
          jpeg.push({ t, logTime: m.logTime, key: true });
          break;
        case RECORDING_TOPICS.controlReceived:
          timeline.received.push(toTrace(t, json(m.data) as RecordedControl));
          break;
        case RECORDING_TOPICS.controlForwarded:
          timeline.forwarded.push(toTrace(t, json(m.data) as RecordedControl));
          break;
        case RECORDING_TOPICS.controlAck:
          timeline.acks.push({ t, ...(json(m.data) as RecordedControlAck) });
          break;
        case RECORDING_TOPICS.telemetry:
          timeline.telemetry.push({ t, values: json(m.data) as Record<string, unknown> });
          break;
        case RECORDING_TOPICS.events:
          timeline.events.push({ t, ...(json(m.data) as RecordedEvent) });
          break;
      }
      const fraction = Math.floor((Number(m.logTime - start) / span) * 20) / 20;
      if (progress && fraction !== reported) progress((reported = fraction));
    }
    [timeline.codec, timeline.frames] = h264.length ? ['h264', h264] : jpeg.length ? ['jpeg', jpeg] : [null, []];
    return new RecordingFile(reader, readable, timeline);
  }

  /** The pictures of frames `from..to` (indexes into `timeline.frames`), by frame index. */
  async pictures(from: number, to: number): Promise<Map<number, Uint8Array>> {
    const { frames, codec } = this.timeline;
    const out = new Map<number, Uint8Array>();
    if (!codec || from > to) return out;
    // Two frames may share a log time (a burst relayed within one millisecond): they come back in order, and the
    // window starts at the first of them, so that each picture lands on its own frame.
    while (from > 0 && frames[from - 1].logTime === frames[from].logTime) from--;
    const index = new Map<bigint, number[]>();
    for (let i = from; i <= to; i++) index.set(frames[i].logTime, [...(index.get(frames[i].logTime) ?? []), i]);
    const topic = codec === 'h264' ? RECORDING_TOPICS.video : RECORDING_TOPICS.image;
    for await (const m of this.reader.readMessages({ topics: [topic], startTime: frames[from].logTime, endTime: frames[to].logTime })) {
      const i = index.get(m.logTime)?.shift();
      if (i !== undefined) out.set(i, base64Bytes((json(m.data) as { data: string }).data));
    }
    return out;
  }
}
