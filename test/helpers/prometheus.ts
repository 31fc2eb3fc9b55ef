import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../src/core/net';
import { waitFor } from './kafka';

export interface PrometheusServer {
  url: string;
  /** An instant query through the HTTP API: the vector's samples (labels and value). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  log(): string;
}

/**
 * A real Prometheus server (Debian's `prometheus` binary) on a free port, with a generated
 * config scraping `targets` (host:port) every second and its storage in a temporary
 * directory; stopped and removed after the test.
 */
export async function startPrometheus(t: TestContext, targets: Record<string, string>): Promise<PrometheusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'finpipe-prometheus-'));
  const port = await freePort();
  const jobs = Object.entries(targets).map(
    ([stage, target]) => `  - job_name: ${stage}\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs.join('')}`,
  );
  const child = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const failed = new Promise<never>((_, reject) =>
    child.on('error', (error) =>
      reject(new Error(`cannot run prometheus (${error.message}); install Debian's prometheus package: apt-get install -y prometheus`)),
    ),
  );
  failed.catch(() => {});
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    failed,
    waitFor(
      'Prometheus to be ready',
      () =>
        fetch(`${url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
      200,
    ),
  ]);
  return {
    url,
    log: () => log,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`Prometheus query ${expr} failed: ${body.error}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}
