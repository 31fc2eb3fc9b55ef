import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../paths';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The page's files, found from the package root (they are not compiled: dist/ has none). */
export function staticFiles(): Map<string, string> {
  const publicDir = path.join(packageRoot(), 'src', 'core', 'dashboard', 'public');
  // The standalone production build, from the installed package: never a CDN.
  const charts = path.join(
    path.dirname(require.resolve('lightweight-charts/package.json')),
    'dist',
    'lightweight-charts.standalone.production.js',
  );
  return new Map([
    ['/', path.join(publicDir, 'index.html')],
    ['/index.html', path.join(publicDir, 'index.html')],
    ['/app.js', path.join(publicDir, 'app.js')],
    ['/style.css', path.join(publicDir, 'style.css')],
    ['/lib/lightweight-charts.js', charts],
  ]);
}

export async function readStatic(file: string): Promise<{ type: string; body: Buffer }> {
  return { type: TYPES[path.extname(file)] ?? 'application/octet-stream', body: await readFile(file) };
}
