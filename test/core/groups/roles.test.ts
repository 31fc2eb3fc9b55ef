import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { finpipeRole } from '../../../src/core/groups/roles';

test("finpipe's own groups are recognised by their default names", () => {
  const uuid = randomUUID();
  assert.equal(finpipeRole('finpipe-process'), 'process');
  assert.equal(finpipeRole('finpipe-process-my-raw-topic'), 'process');
  assert.equal(finpipeRole(`finpipe-process-state-reader-${uuid}`), 'process state reader (transient)');
  assert.equal(finpipeRole(`my-group-state-reader-${uuid}`), 'process state reader (transient)');
  assert.equal(finpipeRole('finpipe-sink'), 'sink');
  assert.equal(finpipeRole(`finpipe-dashboard-${uuid}`), 'dashboard live feed (transient)');
  assert.equal(finpipeRole(`finpipe-consume-${uuid}`), 'consume (transient)');
});

test("other groups are not finpipe's", () => {
  for (const g of [
    'connect-cluster',
    'finpipe-sink-2',
    'my-finpipe-process',
    'finpipe-consume-abc',
    'finpipe-processor',
    'finpipe-dashboard',
  ])
    assert.equal(finpipeRole(g), null, g);
});
