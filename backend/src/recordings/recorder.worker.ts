import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { FrameMeta, RecordedControl, RecordedControlAck, RecordedEvent } from '../protocol/index.js';
import { DriveRecording } from './drive-recording.js';
import type { ThreadAnswer, ThreadCall } from './recorder-thread.js';

/** The recordings' writer thread: the drives' MCAP writers, fed by the relay's thread in batches. */
const port = parentPort!;
yieldToTheRelay();
const files = new Map<number, DriveRecording>();
/** Creations under way: what arrives for a file meanwhile waits for it, in order. */
const opening = new Map<number, Promise<DriveRecording | null>>();
const reported = new Set<number>();
let answers: ThreadAnswer[] = [];
let answering = false;

function answer(a: ThreadAnswer): void {
  answers.push(a);
  if (answering) return;
  answering = true;
  setImmediate(() => {
    answering = false;
    const out = answers;
    answers = [];
    port.postMessage(out);
  });
}

function write(rec: DriveRecording, c: Extract<ThreadCall, { op: 'add' }>): void {
  switch (c.kind) {
    case 'frame':
      return rec.frame(c.meta as FrameMeta, Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength), c.at);
    case 'controlReceived':
      return rec.controlReceived(c.body as RecordedControl, c.at);
    case 'controlForwarded':
      return rec.controlForwarded(c.body as RecordedControl, c.at);
    case 'controlAck':
      return rec.controlAck(c.body as RecordedControlAck, c.at);
    case 'telemetry':
      return rec.telemetry(c.body as Record<string, unknown>, c.at);
    case 'event':
      return rec.event(c.body as RecordedEvent, c.at);
  }
}

/** Tells the relay's thread once when a file's writer failed (it stops recording that drive). */
function check(id: number, rec: DriveRecording): void {
  if (rec.error && !reported.has(id)) {
    reported.add(id);
    answer({ failed: id, error: rec.error.message });
  }
}

function handle(c: ThreadCall): void {
  if (c.op === 'create') {
    const p = DriveRecording.create(c.path, c.meta).then(
      (rec) => {
        files.set(c.id, rec);
        opening.delete(c.id);
        answer({ reply: c.reply, value: 0 });
        return rec;
      },
      (err: Error) => {
        opening.delete(c.id);
        answer({ reply: c.reply, error: err.message });
        return null;
      },
    );
    opening.set(c.id, p);
    return;
  }
  const rec = files.get(c.id);
  const pending = opening.get(c.id);
  if (c.op === 'add') {
    if (rec) {
      write(rec, c);
      check(c.id, rec);
    } else
      void pending?.then((r) => {
        if (r) write(r, c);
      });
    return;
  }
  // close: after everything sent before it
  const closing = rec ? Promise.resolve(rec) : (pending ?? Promise.resolve(null));
  void closing.then(async (r) => {
    if (!r) return answer({ reply: c.reply, value: 0 });
    files.delete(c.id);
    reported.delete(c.id);
    try {
      const size = await r.close();
      answer({ reply: c.reply, value: size });
    } catch (err) {
      answer({ reply: c.reply, error: (err as Error).message });
    }
  });
}

port.on('message', (batch: ThreadCall[]) => {
  // The frame bytes taken in, so that the relay's thread knows how far behind this thread is.
  let consumed = 0;
  for (const c of batch) if (c.op === 'add' && c.kind === 'frame') consumed += c.bytes.byteLength;
  if (consumed) answer({ consumed });
  for (const c of batch) {
    try {
      handle(c);
    } catch (err) {
      // One bad message never stops the thread: it is reported against its recording.
      answer({ failed: c.id, error: (err as Error).message });
    }
  }
});

/**
 * The writer yields to the relay: where cores are contended, controls and video must win them. What it costs is a
 * writer that lags for a moment, its queue in memory (bounded for frames); a drive's file is complete when it ends.
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
