import chalk from 'chalk';

/** A plain text table; the first row is the (bold) header. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, index) => {
      const line = r
        .map((cell, i) => (cell ?? '').padEnd(widths[i]))
        .join('  ')
        .trimEnd();
      return index === 0 ? chalk.bold(line) : line;
    })
    .join('\n');
}
