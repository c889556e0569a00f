// Builds messages.ko.json (what the Angular build reads) from messages.json (`ng extract-i18n`, English, by id) and
// ko.source.json (English text → Korean). Fails on any message without a translation or with placeholders that differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = JSON.parse(readFileSync(join(here, 'messages.json'), 'utf8')).translations;
const korean = JSON.parse(readFileSync(join(here, 'ko.source.json'), 'utf8'));
const placeholders = (s) => (s.match(/\{\$[A-Za-z0-9_]+\}/g) ?? []).sort().join();
const out = {};
const problems = [];
for (const [id, english] of Object.entries(source)) {
  const ko = korean[english];
  if (ko === undefined) problems.push(`no Korean for ${JSON.stringify(english)}`);
  else if (placeholders(ko) !== placeholders(english)) problems.push(`placeholders differ: ${JSON.stringify(english)} → ${JSON.stringify(ko)}`);
  else out[id] = ko;
}
const unused = Object.keys(korean).filter((k) => !Object.values(source).includes(k));
if (unused.length) console.warn(`ko.source.json has ${unused.length} unused entries: ${unused.slice(0, 5).join(' | ')}`);
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
writeFileSync(join(here, 'messages.ko.json'), JSON.stringify({ locale: 'ko', translations: out }, null, 2) + '\n');
process.stdout.write(`messages.ko.json: ${Object.keys(out).length} messages\n`);
