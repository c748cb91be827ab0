// Dodo Payments' official TypeScript SDK (pinned in package.json) against a live Wallets server: a
// merchant's code changes only its base URL. Run by tests/test_sdk_ts.py:
//
//   WALLETS_BASE_URL=http://127.0.0.1:8000 WALLETS_API_KEY=wsk_... node workflow.mjs [core|aed|all]
//
// Every check runs (a failed one does not stop the others). The last line of standard output is
// one JSON object, {"results": [{"check", "ok", "error"?}, ...]}; the exit code is 1 if any failed.
import assert from 'node:assert/strict';

import DodoPayments from 'dodopayments';

const baseURL = process.env.WALLETS_BASE_URL;
const apiKey = process.env.WALLETS_API_KEY;
const part = process.argv[2] ?? 'all';
if (!baseURL || !apiKey) {
  console.error('set WALLETS_BASE_URL and WALLETS_API_KEY');
  process.exit(2);
}

// No retries: a check must see the first answer (the SDK retries 429s and 5xx by default).
const client = new DodoPayments({ bearerToken: apiKey, baseURL, maxRetries: 0 });
const results = [];

async function check(name, body) {
  try {
    await body();
    results.push({ check: name, ok: true });
  } catch (error) {
    results.push({ check: name, ok: false, error: `${error?.constructor?.name}: ${error?.message ?? error}` });
  }
}

async function refusal(promise, errorClass, status, code) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error?.constructor?.name}: ${error}`);
    assert.equal(error.status, status);
    if (code) assert.equal(error.error?.code, code, JSON.stringify(error.error));
    return error;
  }
  assert.fail(`expected ${errorClass.name} (${status}), the call succeeded`);
}

const run = Date.now().toString(36);

async function core() {
  let customer;
  await check('customers.create', async () => {
    customer = await client.customers.create({ email: `ts-${run}@example.com`, name: 'Ts User' });
    assert.match(customer.customer_id, /^cus_[0-9A-Za-z]{21}$/);
    assert.equal(customer.email, `ts-${run}@example.com`);
    const again = await client.customers.create({ email: `TS-${run}@example.com`, name: 'Someone Else' });
    assert.equal(again.customer_id, customer.customer_id);
    assert.equal(again.name, 'Ts User');
  });
  if (!customer) return;
  const cid = customer.customer_id;
  const entries = client.customers.wallets.ledgerEntries;

  await check('customers.retrieve and customers.list', async () => {
    const fetched = await client.customers.retrieve(cid);
    assert.equal(fetched.customer_id, cid);
    const page = await client.customers.list({ email: `ts-${run}@EXAMPLE.com`, page_number: 0, page_size: 10 });
    assert.deepEqual(page.items.map((c) => c.customer_id), [cid]);
  });

  await check('credit USD', async () => {
    const wallet = await entries.create(cid, {
      amount: 5000, currency: 'USD', entry_type: 'credit', reason: 'welcome', idempotency_key: `welcome-${run}`,
    });
    assert.deepEqual([wallet.customer_id, wallet.currency, wallet.balance], [cid, 'USD', 5000]);
  });

  await check('idempotent replay', async () => {
    const replay = await entries.create(cid, {
      amount: 5000, currency: 'USD', entry_type: 'credit', reason: 'welcome', idempotency_key: `welcome-${run}`,
    }).withResponse();
    assert.equal(replay.data.balance, 5000);
    assert.equal(replay.response.headers.get('idempotent-replayed'), 'true');
    const page = await entries.list(cid, { currency: 'USD', page_number: 0, page_size: 100 });
    assert.equal(page.items.length, 1, 'a replay writes no entry');
  });

  await check('idempotency key reused with another body: 422', async () => {
    await refusal(entries.create(cid, {
      amount: 1, currency: 'USD', entry_type: 'credit', reason: 'welcome', idempotency_key: `welcome-${run}`,
    }), DodoPayments.UnprocessableEntityError, 422, 'IDEMPOTENCY_KEY_REUSED');
  });

  await check('debit', async () => {
    const wallet = await entries.create(cid, { amount: 1200, currency: 'USD', entry_type: 'debit' });
    assert.equal(wallet.balance, 3800);
  });

  await check('overdraft: BadRequestError', async () => {
    await refusal(entries.create(cid, { amount: 3801, currency: 'USD', entry_type: 'debit' }),
      DodoPayments.BadRequestError, 400, 'INSUFFICIENT_WALLET_FUNDS');
    const wallets = await client.customers.wallets.list(cid);
    assert.equal(wallets.items.find((w) => w.currency === 'USD').balance, 3800, 'a refused debit writes nothing');
  });

  await check('wallets.list', async () => {
    const wallets = await client.customers.wallets.list(cid);
    assert.deepEqual(wallets.items.map((w) => [w.currency, w.balance]), [['INR', 0], ['USD', 3800]]);
    assert.equal(wallets.total_balance_usd, 3800);
  });

  await check('ledger entries with paging', async () => {
    for (let i = 1; i <= 10; i += 1) {
      await entries.create(cid, { amount: i, currency: 'USD', entry_type: 'credit', reason: `top-up ${i}` });
    }
    const first = await entries.list(cid, { currency: 'USD', page_number: 0, page_size: 5 });
    assert.equal(first.items.length, 5);
    assert.ok(first.hasNextPage());
    const all = [];
    for await (const entry of entries.list(cid, { currency: 'USD', page_number: 0, page_size: 5 })) all.push(entry);
    assert.equal(all.length, 12, 'the SDK pages until an empty page: 1 credit + 1 debit + 10 top-ups');
    assert.equal(new Set(all.map((e) => e.id)).size, 12);
    assert.deepEqual(all.slice(0, 5).map((e) => e.id), first.items.map((e) => e.id), 'newest first, stable');
    for (let i = 0; i + 1 < all.length; i += 1) {
      assert.equal(all[i].before_balance, all[i + 1].after_balance, 'each entry starts where the previous ended');
    }
    for (const e of all) {
      assert.equal(e.after_balance - e.before_balance, e.is_credit ? e.amount : -e.amount);
      assert.equal(e.event_type, 'merchant_adjustment');
    }
    assert.equal(all[0].after_balance, 3855);
    const past = await entries.list(cid, { currency: 'USD', page_number: 99, page_size: 5 });
    assert.deepEqual(past.items, []);
  });

  await check('unknown customer: NotFoundError', async () => {
    await refusal(client.customers.retrieve('cus_000000000000000000000'), DodoPayments.NotFoundError, 404, 'NOT_FOUND');
    await refusal(client.customers.wallets.list('cus_000000000000000000000'), DodoPayments.NotFoundError, 404);
  });

  await check('bad key: AuthenticationError', async () => {
    const stranger = new DodoPayments({ bearerToken: 'wsk_not-a-key', baseURL, maxRetries: 0 });
    await refusal(stranger.customers.list(), DodoPayments.AuthenticationError, 401, 'UNAUTHORIZED');
  });

  await check('invalid body: UnprocessableEntityError', async () => {
    await refusal(entries.create(cid, { amount: 0, currency: 'USD', entry_type: 'credit' }),
      DodoPayments.UnprocessableEntityError, 422, 'INVALID_REQUEST_BODY');
    await refusal(entries.list(cid, { page_size: 101 }), DodoPayments.UnprocessableEntityError, 422);
  });
}

async function aed() {
  // AED is Dodo's own example currency: a credit in it must leave the wallet list answering.
  await check('credit AED, then wallets.list', async () => {
    const customer = await client.customers.create({ email: `ts-aed-${run}@example.com`, name: 'Aed User' });
    const wallet = await client.customers.wallets.ledgerEntries.create(customer.customer_id, {
      amount: 10000, currency: 'AED', entry_type: 'credit', reason: 'AED top-up',
    });
    assert.deepEqual([wallet.currency, wallet.balance], ['AED', 10000]);
    const wallets = await client.customers.wallets.list(customer.customer_id);
    assert.deepEqual(wallets.items.find((w) => w.currency === 'AED')?.balance, 10000);
    assert.equal(typeof wallets.total_balance_usd, 'number');
  });
}

if (part === 'core' || part === 'all') await core();
if (part === 'aed' || part === 'all') await aed();

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
console.log(JSON.stringify({ results }));
process.exit(failed ? 1 : 0);
