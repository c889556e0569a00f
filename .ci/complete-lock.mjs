// The registry this project installs from answers 404 for other platforms' optional binaries, so `npm install`
// leaves them out of package-lock.json and `npm ci` then refuses the lock as out of sync. This adds the missing
// entries, marked optional with the os/cpu/libc their names state, so `npm ci` skips them on other platforms.
// Run after any dependency change: node .ci/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const OS = ['android', 'darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'openharmony'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'riscv64', 'ppc64', 's390x', 'loong64', 'mips64el'];
let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path ? `${path}/node_modules/` : 'node_modules/';
    if (pkgs[`${base}${name}`] || pkgs[`node_modules/${name}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((p) => OS.includes(p));
    const cpu = parts.find((p) => CPU.includes(p)) ?? (parts.includes('gnueabihf') ? 'arm' : undefined);
    if (!os) continue;
    const extra = { version, optional: true, os: [os] };
    if (cpu) extra.cpu = [cpu];
    if (os === 'linux') extra.libc = [parts.includes('musl') ? 'musl' : 'glibc'];
    pkgs[`node_modules/${name}`] = extra;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
process.stdout.write(`complete-lock: added ${added} platform entries\n`);
