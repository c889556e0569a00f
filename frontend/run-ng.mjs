// Runs `ng build` or `ng test --watch=false` and makes sure it ends. With @angular/build 21 on a project of this
// size, both leave an esbuild service alive after finishing, so the process never exits (angular/angular-cli#32832;
// the test executor also disposes Vitest with close() instead of exit()). This forwards the output, recognises the
// final line of a finished build or test run, gives the process a grace period to exit, then ends its process group.
// Success is only ever read from that final output: a crash or a hang without it still fails.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const GRACE_MS = 5_000;
const HARD_TIMEOUT_MS = 15 * 60_000;
const [command, ...rest] = process.argv.slice(2);
const modes = {
  build: {
    args: ['build', ...rest],
    verdict: (t) => (/Application bundle generation failed/.test(t) ? 1 : /Output location:/.test(t) ? 0 : null),
  },
  'extract-i18n': {
    args: ['extract-i18n', ...rest],
    verdict: (t) => (/Extraction Complete/.test(t) ? 0 : /error/i.test(t) ? 1 : null),
  },
  test: {
    args: ['test', '--watch=false', ...rest],
    verdict: (t) => {
      const files = /Test Files\s+(.*)\n/.exec(t);
      const tests = /\n\s*Tests\s+(.*)\n/.exec(t);
      if (!files || !tests || !/Duration/.test(t)) return null;
      return /failed/.test(files[1] + tests[1]) ? 1 : 0;
    },
  },
};
const mode = modes[command];
if (!mode) {
  process.stderr.write('usage: node frontend/run-ng.mjs build|test [ng options]\n');
  process.exit(2);
}

const child = spawn(process.execPath, [join(root, 'node_modules/@angular/cli/bin/ng.js'), ...mode.args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
let text = '';
let verdict = null;
const forward = (stream) => (chunk) => {
  stream.write(chunk);
  text += chunk.toString().replace(/\x1b\[[0-9;]*m/g, '');
  if (verdict !== null) return;
  verdict = mode.verdict(text);
  if (verdict !== null) setTimeout(() => finish(verdict, `ng ${command} did not exit after finishing; ended it`), GRACE_MS).unref();
};
child.stdout.on('data', forward(process.stdout));
child.stderr.on('data', forward(process.stderr));
child.on('exit', (code) => finish(verdict ?? code ?? 1));
setTimeout(() => finish(1, `ng ${command} timed out`), HARD_TIMEOUT_MS).unref();

function finish(code, why) {
  if (why) process.stderr.write(`run-ng: ${why}\n`);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  process.exit(code);
}
