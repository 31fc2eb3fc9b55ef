import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { METRICS } from '../../src/core/metrics/definitions';

/**
 * docker/compose.yml's Prometheus scrapes every finpipe stage service on the metrics port the
 * compose file gives them, its config passes `promtool check config`, and the operations
 * dashboard only asks for metrics finpipe (or prom-client's defaults) has.
 */
const docker = path.resolve(__dirname, '../../../docker');

interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
}

test('compose: Prometheus scrapes every finpipe stage on the port the stages listen on; promtool accepts the config', () => {
  const compose = parse(readFileSync(path.join(docker, 'compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const stages = Object.entries(compose.services)
    .filter(([name, s]) => s.image === 'finpipe:local' && name !== 'topics') // `topics create` runs once, it has no metrics server
    .map(([name]) => name);
  assert.ok(stages.length >= 4, `finpipe stage services: ${stages.join(', ')}`);
  for (const name of stages) {
    const env = compose.services[name].environment ?? {};
    assert.equal(String(env.FINPIPE_METRICS_PORT), '9464', `${name}: FINPIPE_METRICS_PORT`);
    assert.equal(env.FINPIPE_METRICS_HOST, '0.0.0.0', `${name}: reachable from the prometheus container`);
  }
  const prometheus = parse(readFileSync(path.join(docker, 'prometheus/prometheus.yml'), 'utf8')) as {
    scrape_configs: { static_configs: { targets: string[] }[] }[];
  };
  const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort();
  assert.deepEqual(targets, stages.map((s) => `${s}:9464`).sort());
  try {
    execFileSync('promtool', ['check', 'config', path.join(docker, 'prometheus/prometheus.yml')], { stdio: 'pipe' });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error("promtool not found: install Debian's prometheus package (apt-get install -y prometheus)");
    throw new Error(`promtool check config: ${e.stderr?.toString() ?? e.message}`);
  }
});

test('the operations dashboard asks only for metrics that exist, on the provisioned Prometheus datasource', () => {
  const dashboard = JSON.parse(readFileSync(path.join(docker, 'grafana/dashboards/finpipe-operations.json'), 'utf8')) as {
    uid: string;
    panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
  };
  const datasources = parse(readFileSync(path.join(docker, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
    datasources: { uid: string }[];
  };
  const uid = datasources.datasources[0].uid;
  const known = new Set<string>(METRICS.map((m) => m.name));
  const defaults = /^(process_resident_memory_bytes|nodejs_eventloop_lag_p99_seconds)$/;
  for (const panel of dashboard.panels) {
    assert.equal(panel.datasource.uid, uid, `${panel.title}: datasource`);
    for (const { expr } of panel.targets) {
      const names = expr.match(/\b(finpipe|process|nodejs)_[a-z0-9_]+/g) ?? [];
      assert.ok(names.length > 0, `${panel.title}: ${expr}`);
      for (const name of names) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        assert.ok(known.has(base) || defaults.test(name), `${panel.title}: ${name} is not a metric finpipe exposes`);
      }
    }
  }
});
