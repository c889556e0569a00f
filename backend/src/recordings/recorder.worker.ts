import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { FrameMeta } from '../protocol/index.js';
import { DriveRecording } from './drive-recording.js';
import { RingReader } from './recorder-ring.js';
import { ControlCodec, RECORD_KINDS, type ThreadAnswer, type ThreadCall, type ThreadData } from './recorder-thread.js';

/** The recordings' writer thread: the drives' MCAP writers, fed by the relay's thread through a shared ring. */
const port = parentPort!;
const { ring: memory, pollMs } = workerData as ThreadData;
const ring = new RingReader(memory);
yieldToTheRelay();
/** The open files, each with its recording's ControlCodec. */
const files = new Map<number, { rec: DriveRecording; codec: ControlCodec }>();
/** Creations under way (what the relay writes for a file comes only once it is open: it awaits the answer). */
const opening = new Set<number>();
const reported = new Set<number>();
let poll: NodeJS.Timeout | null = null;

function answer(a: ThreadAnswer): void {
  port.postMessage(a);
}

/** Polls the ring while a file is open or opening; an idle thread sleeps. */
function polling(): void {
  const on = files.size > 0 || opening.size > 0;
  if (on && !poll) poll = setInterval(drain, pollMs);
  else if (!on && poll) {
    clearInterval(poll);
    poll = null;
  }
}

/** Everything the relay has written so far, to its files. */
function drain(): void {
  ring.read((kind, id, at, json, payload) => {
    const file = files.get(id);
    if (!file) return; // its file failed or was closed
    const { rec, codec } = file;
    try {
      write(rec, codec, RECORD_KINDS[kind], at, json, payload);
      check(id, rec);
    } catch (err) {
      // One bad message never stops the thread: it is reported against its recording.
      report(id, err as Error);
    }
  });
}

function write(rec: DriveRecording, codec: ControlCodec, kind: (typeof RECORD_KINDS)[number] | undefined, at: number, json: Buffer, payload: Buffer): void {
  switch (kind) {
    case 'frame':
      return rec.frame(JSON.parse(json.toString()) as FrameMeta, payload, at);
    case 'controlReceived':
    case 'controlForwarded':
      return rec.encoded(kind, codec.controlJson(json, payload), at);
    case 'controlAck':
      return rec.encoded(kind, codec.ackJson(payload), at);
    case undefined:
      throw new Error('a record of no known kind');
    default:
      // Telemetry and events are stored as the relay encoded them; the ring's space is reused, so a copy.
      return rec.encoded(kind === 'event' ? 'events' : kind, Uint8Array.prototype.slice.call(json), at);
  }
}

/** Tells the relay's thread once when a file's writer failed (it stops recording that drive). */
function check(id: number, rec: DriveRecording): void {
  if (rec.error) report(id, rec.error);
}

function report(id: number, err: Error): void {
  if (reported.has(id)) return;
  reported.add(id);
  answer({ failed: id, error: err.message });
}

function handle(c: ThreadCall): void {
  // Whatever the relay wrote before this call goes first (a close comes after its file's last messages).
  drain();
  if (c.op === 'drain') return answer({ reply: c.reply, value: 0 });
  if (c.op === 'create') {
    opening.add(c.id);
    polling();
    DriveRecording.create(c.path, c.meta).then(
      (rec) => {
        files.set(c.id, { rec, codec: new ControlCodec() });
        opening.delete(c.id);
        answer({ reply: c.reply, value: 0 });
      },
      (err: Error) => {
        opening.delete(c.id);
        polling();
        answer({ reply: c.reply, error: err.message });
      },
    );
    return;
  }
  const file = files.get(c.id);
  files.delete(c.id);
  reported.delete(c.id);
  polling();
  if (!file) return answer({ reply: c.reply, value: 0 });
  file.rec.close().then(
    (size) => answer({ reply: c.reply, value: size }),
    (err: Error) => answer({ reply: c.reply, error: err.message }),
  );
}

port.on('message', (c: ThreadCall) => {
  try {
    handle(c);
  } catch (err) {
    answer({ reply: c.reply, error: (err as Error).message });
  }
});

/**
 * The writer yields to the relay: where cores are contended, controls and video must win them. What it costs is a
 * writer that lags for a moment, its backlog in the ring (bounded); a drive's file is complete when it ends.
 *
 * On Linux the thread becomes SCHED_IDLE (through util-linux's `chrt`, on this thread's own id): a thread of that
 * class is preempted at once by any other that wakes, and the core it runs on counts as free when the kernel places
 * a woken thread. A low nice value alone is not enough: the kernel's scheduler (EEVDF) lets the running thread finish
 * its protected slice first, and a control that arrives meanwhile waited for it — the tail the recording bench showed
 * with one drive. Where `chrt` or /proc is missing, the thread keeps nice 19 (a thread's nice value is its own on
 * Linux: setpriority of "0" is the calling thread).
 */
function yieldToTheRelay(): void {
  try {
    setPriority(0, 19);
  } catch {
    // Not permitted here: the writer runs at the relay's priority.
  }
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop()!;
    execFileSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 5_000 });
  } catch {
    // Not Linux, or no chrt: nice 19 stands.
  }
}
