/**
 * The capture time, drawn into the simulator's picture as a row of black and white squares (bottom left): a fixed
 * 4-bit start pattern, then the low 32 bits of the time in ms, most significant first. Big squares survive JPEG and
 * H.264 at low bitrates, so the time can be read back from what a browser drew — glass-to-glass latency including
 * encode, relay, decode and draw.
 */
export const TIMECODE = { square: 12, x: 4, marginBottom: 4, start: [1, 0, 1, 0], bits: 32 } as const;

/** How wide a picture must be to carry the code (436 px: it is drawn only in pictures at least this wide). */
export const TIMECODE_WIDTH = TIMECODE.x + (TIMECODE.start.length + TIMECODE.bits) * TIMECODE.square;

export function timecodeSquares(ms: number): number[] {
  const v = Math.floor(ms) >>> 0;
  const bits: number[] = [...TIMECODE.start];
  for (let i = TIMECODE.bits - 1; i >= 0; i--) bits.push((v >>> i) & 1);
  return bits;
}

/** The row of pixels that crosses the time code's squares, in a picture `height` pixels high. */
export const timecodeRow = (height: number) => Math.round(height - TIMECODE.marginBottom - TIMECODE.square / 2);

/** Reads the time back from RGBA pixels of the drawn picture; null when the start pattern is not there. */
export function readTimecode(rgba: Uint8ClampedArray | Uint8Array | number[], width: number, height: number, near: number): number | null {
  if (width < TIMECODE_WIDTH) return null;
  const o = timecodeRow(height) * width * 4;
  return readTimecodeRow(Array.prototype.slice.call(rgba, o, o + width * 4) as number[], near);
}

/** The same from that one row of RGBA pixels (what a browser hands back cheaply: getImageData(0, row, width, 1)). */
export function readTimecodeRow(row: ArrayLike<number>, near: number): number | null {
  if (row.length < TIMECODE_WIDTH * 4) return null;
  // Each square is judged on the middle half of its width: codec noise at its edges does not flip a bit.
  const from = Math.round(TIMECODE.square / 4);
  const to = Math.round((TIMECODE.square * 3) / 4);
  const bit = (i: number) => {
    let sum = 0;
    for (let x = from; x < to; x++) {
      const o = (TIMECODE.x + i * TIMECODE.square + x) * 4;
      sum += row[o] + row[o + 1] + row[o + 2];
    }
    return sum > (to - from) * 3 * 128 ? 1 : 0;
  };
  for (let i = 0; i < TIMECODE.start.length; i++) if (bit(i) !== TIMECODE.start[i]) return null;
  let v = 0;
  for (let i = 0; i < TIMECODE.bits; i++) v = v * 2 + bit(TIMECODE.start.length + i);
  // The low 32 bits, placed back into the time near `near` (the reader's clock).
  const span = 2 ** 32;
  const base = near - (((near % span) + span) % span);
  let t = base + v;
  if (t - near > span / 2) t -= span;
  if (near - t > span / 2) t += span;
  return t;
}
