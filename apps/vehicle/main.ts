import { VehicleAgent, type AgentOptions } from './agent.js';
import { hasLibx264 } from './h264.js';

const USAGE = `Usage: npm run vehicle -- --server http://localhost:3000 --token <token>
         [--source sim|ffmpeg:<input>] [--codec h264|jpeg] [--bitrate 800k] [--fps 30] [--size 640x480]
         [--controls-out -] [--name label]
  --codec         h264 (default when ffmpeg has libx264) or jpeg; the choice is said at start
  --bitrate       H.264 target bitrate (ffmpeg syntax: 800k, 2M)
  ffmpeg:<input>  anything ffmpeg reads: /dev/video0, a file (looped in real time), an rtsp:// URL, or lavfi:<graph>
                  (e.g. ffmpeg:lavfi:testsrc2=size=640x480:rate=30)
  --controls-out - writes every applied command as a JSON line to stdout (logs go to stderr)
  The token may also come from the VICER_VEHICLE_TOKEN environment variable.`;

function parse(argv: string[]): AgentOptions & { name: string; codecGiven: boolean } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const v = argv[i + 1];
    if (v === undefined || (v.startsWith('--') && v !== '-')) throw new Error(`${a} needs a value`);
    flags.set(a.slice(2), v);
    i++;
  }
  const known = ['server', 'token', 'source', 'codec', 'bitrate', 'fps', 'size', 'controls-out', 'name'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}`);
  const server = flags.get('server') ?? 'http://localhost:3000';
  if (!/^https?:\/\/[^/]+/.test(server)) throw new Error(`--server must be an http(s) URL (got ${server})`);
  const token = flags.get('token') ?? process.env.VICER_VEHICLE_TOKEN;
  if (!token) throw new Error('--token is required (the token shown when the vehicle was registered)');
  const fps = Number(flags.get('fps') ?? 30);
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) throw new Error('--fps must be a whole number from 1 to 60');
  const size = /^(\d{2,4})x(\d{2,4})$/.exec(flags.get('size') ?? '640x480');
  if (!size) throw new Error('--size must look like 640x480');
  const [width, height] = [Number(size[1]), Number(size[2])];
  if (width < 16 || height < 16 || width > 3840 || height > 2160) throw new Error('--size must be between 16x16 and 3840x2160');
  const src = flags.get('source') ?? 'sim';
  let source: AgentOptions['source'];
  if (src === 'sim') source = { kind: 'sim' };
  else if (src.startsWith('ffmpeg:') && src.length > 7) source = { kind: 'ffmpeg', input: src.slice(7) };
  else throw new Error(`--source must be sim or ffmpeg:<input> (got ${src})`);
  const codecFlag = flags.get('codec');
  if (codecFlag !== undefined && codecFlag !== 'h264' && codecFlag !== 'jpeg') throw new Error(`--codec must be h264 or jpeg (got ${codecFlag})`);
  const x264 = hasLibx264();
  if (codecFlag === 'h264' && !x264) throw new Error('--codec h264 needs ffmpeg with libx264 (apt-get install ffmpeg)');
  const codec = codecFlag ?? (x264 ? 'h264' : 'jpeg');
  const bitrate = flags.get('bitrate') ?? '800k';
  if (!/^\d+(\.\d+)?[kM]?$/.test(bitrate)) throw new Error(`--bitrate must look like 800k or 2M (got ${bitrate})`);
  const out = flags.get('controls-out');
  if (out !== undefined && out !== '-') throw new Error('--controls-out takes - (stdout)');
  return { server, token, source, codec, codecGiven: codecFlag !== undefined, bitrate, fps, width, height, controlsOut: out === '-' ? process.stdout : undefined, log: (l) => process.stderr.write(`[vehicle] ${l}\n`), name: flags.get('name') ?? 'vehicle' };
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}\n`);
  process.exit(2);
}
process.stderr.write(`[vehicle] video: ${options.codec === 'h264' ? `H.264 at ${options.bitrate}` : 'JPEG'}${options.codec === 'jpeg' && !options.codecGiven ? ' (ffmpeg with libx264 not found)' : ''}\n`);
const agent = new VehicleAgent(options);
agent.name = options.name;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    agent.stop('shutdown');
    setTimeout(() => process.exit(0), 100);
  });
}
agent.run().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  },
);
