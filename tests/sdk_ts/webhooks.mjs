// Dodo Payments' official TypeScript SDK manages webhook endpoints on a live Wallets server:
// client.webhooks.create / retrieve / update / list (auto-paging) / delete / retrieveSecret and
// client.webhooks.headers.retrieve / update. Run by tests/test_sdk_webhooks.py:
//
//   WALLETS_BASE_URL=http://127.0.0.1:8000 WALLETS_API_KEY=wsk_... node webhooks.mjs
//
// The last line of standard output is one JSON object, {"results": [{"check", "ok", "error"?}, ...]};
// the exit code is 1 if any check failed.
import assert from 'node:assert/strict';

import DodoPayments from 'dodopayments';

const client = new DodoPayments({
  bearerToken: process.env.WALLETS_API_KEY, baseURL: process.env.WALLETS_BASE_URL, maxRetries: 0,
});
const results = [];

async function check(name, body) {
  try {
    await body();
    results.push({ check: name, ok: true });
  } catch (error) {
    results.push({ check: name, ok: false, error: `${error?.constructor?.name}: ${error?.message ?? error}` });
  }
}

let made;
await check('webhooks.create', async () => {
  made = await client.webhooks.create({
    url: 'https://hooks.example.com/ts', description: 'From TypeScript',
    filter_types: ['wallet.ledger_entry.created'], headers: { 'X-Tenant': 'acme', Authorization: 'Bearer t' },
    metadata: { team: 'finance' }, rate_limit: 10,
  });
  assert.match(made.id, /^whk_/);
  assert.deepEqual(made.filter_types, ['wallet.ledger_entry.created']);
  assert.equal(made.disabled, false);
});

await check('webhooks.retrieve and update', async () => {
  assert.deepEqual(await client.webhooks.retrieve(made.id), made);
  const updated = await client.webhooks.update(made.id, { disabled: true, description: 'Paused' });
  assert.equal(updated.disabled, true);
  assert.equal(updated.description, 'Paused');
  assert.equal(updated.rate_limit, 10);
});

await check('webhooks.retrieveSecret', async () => {
  const { secret } = await client.webhooks.retrieveSecret(made.id);
  assert.match(secret, /^whsec_/);
});

await check('webhooks.headers', async () => {
  const shown = await client.webhooks.headers.retrieve(made.id);
  assert.deepEqual(shown, { headers: { 'X-Tenant': 'acme' }, sensitive: ['Authorization'] });
  await client.webhooks.headers.update(made.id, { headers: { 'X-Env': 'prod' } });
  const after = await client.webhooks.headers.retrieve(made.id);
  assert.deepEqual(after.headers, { 'X-Tenant': 'acme', 'X-Env': 'prod' });
});

await check('webhooks.list walks every page', async () => {
  const more = [];
  for (let i = 0; i < 4; i += 1) more.push((await client.webhooks.create({ url: `https://hooks.example.com/${i}` })).id);
  const walked = [];
  for await (const endpoint of client.webhooks.list({ limit: 2 })) walked.push(endpoint.id);
  assert.deepEqual(walked, [...more.reverse(), made.id]);
});

await check('webhooks.delete', async () => {
  await client.webhooks.delete(made.id);
  try {
    await client.webhooks.retrieve(made.id);
    assert.fail('retrieve after delete succeeded');
  } catch (error) {
    assert.ok(error instanceof DodoPayments.NotFoundError, String(error));
  }
});

await check('invalid url: UnprocessableEntityError', async () => {
  try {
    await client.webhooks.create({ url: 'ftp://hooks.example.com/x' });
    assert.fail('an ftp URL was accepted');
  } catch (error) {
    assert.ok(error instanceof DodoPayments.UnprocessableEntityError, String(error));
    assert.ok('url' in error.error.errors, JSON.stringify(error.error));
  }
});

console.log(JSON.stringify({ results }));
process.exit(results.every((r) => r.ok) ? 0 : 1);
