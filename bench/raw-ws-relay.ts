// Baseline for bench/relay.bench.ts: the smallest useful relay on raw `ws` — no auth, no validation, no safety —
// i.e. the practical floor for a Node relay. Operators' text messages go to their vehicle; a vehicle's binary frames
// go to every watcher whose socket buffer holds less than two frames (the same flow control vicer applies).
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.argv[2]);
const vehicles = new Map<string, WebSocket>();
const watchers = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 1024 * 1024 });

wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const role = url.searchParams.get('role');
  const id = url.searchParams.get('id') ?? '0';
  if (role === 'vehicle') {
    vehicles.set(id, ws);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const buf = data as Buffer;
      for (const w of watchers.get(id) ?? []) if (w.bufferedAmount < 2 * buf.length) w.send(buf, { binary: true });
    });
  } else if (role === 'watcher') {
    let set = watchers.get(id);
    if (!set) watchers.set(id, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
  } else {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) vehicles.get(id)?.send(data, { binary: false });
    });
  }
});
wss.on('listening', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
