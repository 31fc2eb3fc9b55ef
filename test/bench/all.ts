/**
 * `npm run bench`: every stage benchmark, then the end-to-end one, each in its own process
 * (one at a time, so they do not compete for the 2 cores). Collects the `BENCH_RESULT`
 * line each prints into .bench/results.json and prints one table.
 */
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RESULT_PREFIX, RESULTS_DIR } from './lib';

const BENCHES = ['produce', 'process', 'sink', 'e2e', 'metrics'];

function run(name: string): Promise<{ code: number | null; result?: Record<string, unknown> }> {
  return new Promise((resolve) => {
    console.log(`\n=== bench:${name} ===`);
    const child = spawn(process.execPath, [path.join(__dirname, `${name}.js`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let result: Record<string, unknown> | undefined;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as Record<string, unknown>;
      }
    });
    child.on('close', (code) => resolve({ code, result }));
  });
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, node: process.version },
    startedAt: new Date().toISOString(),
  };
  let failed = false;
  for (const name of BENCHES) {
    const { code, result } = await run(name);
    results[name] = result ?? { error: `exited with ${code} without a result` };
    if (code !== 0) failed = true;
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log('\n=== summary ===');
  for (const name of BENCHES) {
    const r = results[name] as Record<string, unknown>;
    // Scalars only, one level of nesting flattened (`median.sinkRowsPerSec`); per-run arrays are in the JSON file.
    const flat = Object.entries(r).flatMap(([k, v]) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.entries(v).map(([k2, v2]) => [`${k}.${k2}`, v2] as const)
        : [[k, v] as const],
    );
    const figures = flat
      .filter(([k, v]) => k !== 'name' && !Array.isArray(v))
      .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : String(v)}`);
    console.log(`${name.padEnd(8)} ${figures.join('  ')}`);
  }
  console.log(`\nresults written to ${file}`);
  if (failed) process.exitCode = 1;
}

void main();
