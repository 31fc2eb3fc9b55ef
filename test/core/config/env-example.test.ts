import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../../../src/core/config/settings';
import { parseDotenv } from '../../../src/core/config/dotenv';

const root = path.resolve(__dirname, '../../../..');

test('.env.example documents every setting with its default', () => {
  const { values, problems } = parseDotenv(readFileSync(path.join(root, '.env.example'), 'utf8'));
  assert.deepEqual(problems, []);
  for (const s of SETTINGS) assert.equal(values[s.env], s.default ?? '', `${s.env} in .env.example`);
  assert.deepEqual(Object.keys(values).sort(), SETTINGS.map((s) => s.env).sort(), 'no stale variables');
});

test('the README configuration table lists every setting', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const s of SETTINGS) assert.ok(readme.includes(`\`${s.env}\``), `${s.env} in README`);
});
