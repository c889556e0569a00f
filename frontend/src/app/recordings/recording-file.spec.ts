import { avcCodecOf, base64Bytes, isKeyUnit, lastAtOrBefore, nalTypes } from './recording-file';

const sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
const pps = [0x68, 0xeb, 0xe3];
const idr = [0x65, 0x88, 0x84];
const slice = [0x41, 0x9a, 0x20];
const annexB = (...units: number[][]) => new Uint8Array(units.flatMap((u) => [0, 0, 0, 1, ...u]));

describe('recorded H.264 (Annex B)', () => {
  it('lists the NAL unit types in order, with 3- and 4-byte start codes', () => {
    expect(nalTypes(annexB(sps, pps, idr))).toEqual([7, 8, 5]);
    expect(nalTypes(new Uint8Array([0, 0, 1, ...slice, 0, 0, 1, ...idr]))).toEqual([1, 5]);
  });

  it('tells a key frame by its IDR slice or the parameter sets put before it; a P-frame is not one', () => {
    expect(isKeyUnit(annexB(sps, pps, idr))).toBe(true);
    expect(isKeyUnit(annexB(sps, pps))).toBe(true);
    expect(isKeyUnit(annexB(idr))).toBe(true);
    expect(isKeyUnit(annexB(slice))).toBe(false);
    expect(isKeyUnit(new Uint8Array(0))).toBe(false);
  });

  it('reads the WebCodecs codec string from the sequence parameter set', () => {
    expect(avcCodecOf(annexB(sps, pps, idr))).toBe('avc1.64001f');
    expect(avcCodecOf(annexB(slice))).toBeNull();
  });

  it('decodes base64 like the recorder wrote it', () => {
    expect([...base64Bytes(btoa(String.fromCharCode(0, 0, 0, 1, 0x67)))]).toEqual([0, 0, 0, 1, 0x67]);
  });
});

describe('lastAtOrBefore', () => {
  const at = (...ts: number[]) => ts.map((t) => ({ t }));
  it('finds the last entry at or before a time, -1 before the first', () => {
    const entries = at(0, 10, 10, 20, 35);
    expect(lastAtOrBefore(entries, -1)).toBe(-1);
    expect(lastAtOrBefore(entries, 0)).toBe(0);
    expect(lastAtOrBefore(entries, 10)).toBe(2);
    expect(lastAtOrBefore(entries, 19.9)).toBe(2);
    expect(lastAtOrBefore(entries, 1e9)).toBe(4);
    expect(lastAtOrBefore(at(), 5)).toBe(-1);
  });
});
