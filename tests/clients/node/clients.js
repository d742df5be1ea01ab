// node-redis against a StructD server (argument: its port): each check
// asserts what Redis answers, and the script exits non-zero with the
// first difference. tests/clients/noderedis_test.go runs it.
'use strict';
const assert = require('node:assert/strict');
const { createClient, WatchError } = require('redis');

async function main(port) {
  const url = `redis://127.0.0.1:${port}`;
  const c = createClient({ url, name: 'nodetest' });
  c.on('error', (e) => { throw e; });
  await c.connect();

  assert.equal(await c.ping(), 'PONG');
  assert.equal(await c.set('k', 'v\r\n\0'), 'OK');
  assert.equal(await c.get('k'), 'v\r\n\0');
  assert.equal(await c.get('missing'), null);
  assert.equal(await c.incrBy('n', 5), 5);
  assert.equal(await c.incrByFloat('f', 1.5), '1.5');
  assert.equal(await c.sendCommand(['CLIENT', 'GETNAME']), 'nodetest');

  // Errors surface as ErrorReply with Redis's text.
  await c.lPush('list', 'a');
  await assert.rejects(c.get('list'), (e) => e.message.startsWith('WRONGTYPE Operation against a key holding the wrong kind of value'));

  // Hashes, sets, sorted sets, lists.
  assert.equal(await c.hSet('h', { a: '1', b: '2' }), 2);
  assert.deepEqual({ ...(await c.hGetAll('h')) }, { a: '1', b: '2' });
  assert.equal(await c.sAdd('s', ['x', 'y', 'x']), 2);
  assert.deepEqual((await c.sMembers('s')).sort(), ['x', 'y']);
  assert.equal(await c.zAdd('z', [{ score: 2, value: 'b' }, { score: 1, value: 'a' }]), 2);
  assert.deepEqual((await c.zRangeWithScores('z', 0, -1)).map((e) => ({ ...e })), [{ value: 'a', score: 1 }, { value: 'b', score: 2 }]);
  assert.equal(await c.rPush('l', ['1', '2', '3']), 3);
  assert.deepEqual(await c.lRange('l', 0, -1), ['1', '2', '3']);

  // Expiry.
  assert.equal(await c.set('t', 'v', { PX: 100000 }), 'OK');
  const ttl = await c.pTTL('t');
  assert.ok(ttl > 0 && ttl <= 100000, `PTTL ${ttl}`);

  // Transactions, and WATCH seeing another client's write.
  assert.deepEqual(await c.multi().set('x', '1').incr('x').get('x').exec(), ['OK', 2, '2']);
  const other = c.duplicate();
  await other.connect();
  await assert.rejects(c.executeIsolated(async (iso) => {
    await iso.watch('w');
    await other.set('w', 'changed');
    return iso.multi().set('w', 'mine').exec();
  }), WatchError);
  assert.equal(await c.get('w'), 'changed');

  // Scripts, by body and by SHA.
  assert.equal(await c.eval("return redis.call('GET', KEYS[1])", { keys: ['x'] }), '2');
  const sha = await c.scriptLoad('return ARGV[1]');
  assert.equal(await c.evalSha(sha, { arguments: ['hi'] }), 'hi');

  // Many commands in flight at once (node-redis pipelines them).
  const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => c.set(`p${i}`, String(i))));
  assert.ok(replies.every((r) => r === 'OK'));
  let scanned = 0;
  for await (const key of c.scanIterator({ MATCH: 'p*', COUNT: 50 })) {
    assert.match(key, /^p\d+$/);
    scanned++;
  }
  assert.equal(scanned, 500);

  // A blocking pop served by another connection's push (pushed a moment
  // later, so the pop most likely blocks first; it is right either way).
  const popped = c.executeIsolated((iso) => iso.blPop('q', 5));
  await new Promise((r) => setTimeout(r, 50));
  await other.rPush('q', 'job');
  assert.deepEqual({ ...(await popped) }, { key: 'q', element: 'job' });

  // Pub/sub.
  const sub = c.duplicate();
  await sub.connect();
  let message;
  const got = new Promise((resolve) => { message = resolve; });
  await sub.subscribe('ch', (m) => message(m)); // resolves once subscribed
  assert.equal(await c.publish('ch', 'hello'), 1);
  assert.equal(await got, 'hello');

  // Another database.
  const db2 = createClient({ url, database: 2 });
  await db2.connect();
  await db2.set('only-in-2', '1');
  assert.equal(await c.exists('only-in-2'), 0);

  await Promise.all([sub.quit(), other.quit(), db2.quit()]);
  await c.quit();
}

main(process.argv[2]).then(() => console.log('ok'), (e) => {
  console.error(e);
  process.exit(1);
});
