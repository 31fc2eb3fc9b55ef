import { test } from 'node:test';
import assert from 'node:assert/strict';
import chalk from 'chalk';
import { applyColourPreference } from '../../../src/core/ui/terminal';

test('NO_COLOR (https://no-color.org) turns chalk off; empty NO_COLOR and FORCE_COLOR do not', (t) => {
  const level = chalk.level;
  t.after(() => (chalk.level = level));
  chalk.level = 1;
  applyColourPreference({ NO_COLOR: '' });
  assert.equal(chalk.red('x'), '\u001b[31mx\u001b[39m');
  applyColourPreference({ NO_COLOR: '1', FORCE_COLOR: '1' });
  assert.equal(chalk.red('x'), '\u001b[31mx\u001b[39m');
  applyColourPreference({ NO_COLOR: '1' });
  assert.equal(chalk.red('x'), 'x');
  assert.equal(chalk.bold.green('up'), 'up');
});
