// Entry point of `npm start`, `npm run cli` and `npm run vehicle`: builds what is missing or older than its
// sources, then runs the compiled program. Build chatter goes to stderr so command output stays clean.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const targets = {
  server: 'dist/node/backend/src/main.js',
  cli: 'dist/node/backend/src/cli/cli.js',
  vehicle: 'dist/node/apps/vehicle/main.js',
};

function newest(paths) {
  let latest = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const entry of readdirSync(p)) walk(join(p, entry));
    else latest = Math.max(latest, st.mtimeMs);
  };
  for (const p of paths) walk(join(root, p));
  return latest;
}

function stale(output, sources) {
  const out = join(root, output);
  return !existsSync(out) || statSync(out).mtimeMs < newest(sources);
}

function build(label, args) {
  process.stderr.write(`vicer: building ${label}…\n`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    process.stderr.write(`vicer: building ${label} failed\n`);
    process.exit(r.status ?? 1);
  }
}

const [what = 'server', ...args] = process.argv.slice(2);
if (!(what in targets)) {
  process.stderr.write(`usage: node backend/launch.mjs ${Object.keys(targets).join('|')} [args]\n`);
  process.exit(2);
}
if (stale('dist/node/.tsbuildinfo', ['backend/src', 'apps', 'backend/tsconfig.json', 'tsconfig.base.json'])) {
  build('the server', [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'backend/tsconfig.json']);
}
if (what === 'server' && existsSync(join(root, 'angular.json')) && stale('dist/frontend/browser/index.html', ['frontend/src', 'angular.json', 'backend/src/protocol'])) {
  build('the web app', [join(root, 'frontend/run-ng.mjs'), 'build']);
}
process.argv = [process.argv[0], join(root, targets[what]), ...args];
await import(pathToFileURL(join(root, targets[what])).href);
