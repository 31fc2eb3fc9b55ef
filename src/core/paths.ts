import { existsSync } from 'node:fs';
import path from 'node:path';

/** The directory holding finpipe's package.json (works from src/ via tsc output in dist/ and when installed). */
export function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the finpipe package root (package.json)');
    dir = parent;
  }
  return dir;
}

/** The `finpipe` executable, for stages run as supervised child processes. */
export function finpipeBin(): string {
  return path.join(packageRoot(), 'bin', 'finpipe');
}
