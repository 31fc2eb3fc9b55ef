import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, registerSecret } from '../../src/core/redact';

test('token query parameters are masked in any URL', () => {
  assert.equal(redactText('connecting to wss://ws.finnhub.io?token=abc123xyz'), 'connecting to wss://ws.finnhub.io?token=***');
  assert.equal(redactText('GET /api/v1/search?q=AAPL&token=abc123xyz&x=1'), 'GET /api/v1/search?q=AAPL&token=***&x=1');
});

test('userinfo passwords are masked, user names kept', () => {
  assert.equal(redactText('mysql://root:hunter2@127.0.0.1:3306/finpipe'), 'mysql://root:***@127.0.0.1:3306/finpipe');
  assert.equal(redactText('mysql://root@127.0.0.1:3306/finpipe'), 'mysql://root@127.0.0.1:3306/finpipe');
});

test('registered secrets are masked anywhere, also inside JSON', () => {
  registerSecret('tok-XYZ-987');
  assert.equal(redactText('{"msg":"bad token tok-XYZ-987","url":"x"}'), '{"msg":"bad token ***","url":"x"}');
  assert.equal(redactText('X-Finnhub-Token: other-token'), 'X-Finnhub-Token: ***');
});

test('very short values are not treated as secrets (they would mask ordinary text)', () => {
  registerSecret('ab');
  assert.equal(redactText('abc ab'), 'abc ab');
});
