import { readFileSync } from 'node:fs';

/**
 * A `.env` file: KEY=VALUE lines, `#` comments, optional `export `, single or double quotes
 * (double quotes understand \n). Returns the pairs and the problems found, with line numbers.
 */
export function parseDotenv(text: string, file = '.env'): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      problems.push(`${file}:${index + 1}: expected KEY=VALUE`);
      return;
    }
    const [, key, rest] = match;
    let value = rest.trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, ''); // trailing comment on an unquoted value
    }
    values[key] = value;
  });
  return { values, problems };
}

export function readDotenv(file: string, required: boolean): { values: Record<string, string>; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return { values: {}, problems: [] };
    return { values: {}, problems: [`env file ${file}: cannot read it (${code ?? 'error'})`] };
  }
  return parseDotenv(text, file);
}
