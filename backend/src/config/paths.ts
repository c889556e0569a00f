import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: the nearest folder above this file holding vicer's package.json. */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'vicer') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('vicer package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
})();

export const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
export const WEB_ROOT = join(ROOT, 'dist', 'frontend', 'browser');
