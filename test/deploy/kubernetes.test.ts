import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SINK_DEFAULTS } from '../../src/core/sink/options';

/**
 * deploy/kubernetes renders with `kubectl kustomize` (Debian's kubernetes-client) and every
 * object validates against the Kubernetes API schemas (the kubernetes-models packages: the
 * official OpenAPI schemas compiled into validators: types, required fields, enums, formats).
 * Then what finpipe needs of them: probes on its endpoints, scrape annotations, resources,
 * termination grace, produce as one replica.
 */
const root = path.resolve(__dirname, '../../..');
const METRICS_PORT = 9464;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function render(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', path.join(root, 'deploy/kubernetes', dir)], { encoding: 'utf8' });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error("kubectl not found: install Debian's kubernetes-client (apt-get install -y kubernetes-client)");
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

/** The kubernetes-models class for apiVersion/kind: `apps/v1` Deployment -> kubernetes-models/apps/v1/Deployment. */
function validate(object: K8sObject): void {
  const modulePath = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(modulePath) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[object.kind];
  assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

interface Container {
  name: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  envFrom?: { configMapRef?: { name: string } }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}

interface PodTemplate {
  metadata: { annotations?: Record<string, string> };
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number; volumes?: { secret?: { secretName: string } }[] };
}

const finpipeDeployments = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('finpipe-')) as (K8sObject & {
    spec: { replicas: number; strategy?: { type: string }; template: PodTemplate };
  })[];

for (const dir of ['base', 'overlays/local']) {
  test(`deploy/kubernetes/${dir} renders and every object is valid against the Kubernetes API schemas`, () => {
    const objects = render(dir);
    assert.ok(objects.length >= 4, `objects rendered: ${objects.length}`);
    for (const object of objects) {
      try {
        validate(object);
      } catch (error) {
        assert.fail(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
      }
    }
  });

  test(`deploy/kubernetes/${dir}: probes, scrape annotations, resources, grace and replicas as finpipe needs them`, () => {
    const objects = render(dir);
    const names = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    const deployments = finpipeDeployments(objects);
    const stages = deployments.map((d) => d.spec.template.spec.containers[0].args?.[0]);
    for (const stage of ['produce', 'process', 'sink']) assert.ok(stages.includes(stage), `a Deployment runs ${stage}`);
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('finpipe-config'));
    assert.equal(config?.data?.FINPIPE_METRICS_PORT, String(METRICS_PORT));
    assert.equal(config?.data?.FINPIPE_METRICS_HOST, '0.0.0.0', 'probes and Prometheus reach the pod from outside');

    for (const d of deployments) {
      const where = d.metadata.name;
      const pod = d.spec.template;
      const [c] = pod.spec.containers;
      assert.deepEqual(
        pod.metadata.annotations && {
          scrape: pod.metadata.annotations['prometheus.io/scrape'],
          port: pod.metadata.annotations['prometheus.io/port'],
          path: pod.metadata.annotations['prometheus.io/path'],
        },
        { scrape: 'true', port: String(METRICS_PORT), path: '/metrics' },
        `${where}: scrape annotations`,
      );
      assert.equal(c.ports?.find((p) => p.name === 'metrics')?.containerPort, METRICS_PORT, `${where}: metrics port`);
      assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' }, `${where}: liveness on /healthz`);
      assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' }, `${where}: readiness on /readyz`);
      assert.ok(c.resources?.requests?.memory && c.resources.limits?.memory, `${where}: memory request and limit`);
      for (const ref of c.envFrom ?? [])
        if (ref.configMapRef) assert.ok(names.has(`ConfigMap/${ref.configMapRef.name}`), `${where}: ${ref.configMapRef.name}`);
      if (dir !== 'base') {
        // The base leaves the Secret to the overlay or the operator; a rendered overlay must have it.
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) assert.ok(names.has(`Secret/${e.valueFrom.secretKeyRef.name}`), `${where}: ${e.name}`);
        for (const v of pod.spec.volumes ?? [])
          if (v.secret) assert.ok(names.has(`Secret/${v.secret.secretName}`), `${where}: ${v.secret.secretName}`);
      }
    }
    const byStage = (stage: string) => deployments.find((d) => d.spec.template.spec.containers[0].args?.[0] === stage)!;
    assert.equal(byStage('produce').spec.replicas, 1, 'one websocket per subscription set');
    assert.equal(byStage('produce').spec.strategy?.type, 'Recreate', 'never two producers at once during a rollout');
    // The sink keeps retrying an unreachable store this long after SIGTERM, then commits: the grace must cover it.
    const sinkGrace = byStage('sink').spec.template.spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(sinkGrace * 1000 >= SINK_DEFAULTS.shutdownGraceMs + 15_000, `sink grace ${sinkGrace} s`);
    const sinkEnv = byStage('sink').spec.template.spec.containers[0].env ?? [];
    assert.ok(
      sinkEnv.some((e) => e.name === 'FINPIPE_MYSQL_URL' && e.valueFrom?.secretKeyRef),
      'the database URL comes from a Secret',
    );
  });
}
