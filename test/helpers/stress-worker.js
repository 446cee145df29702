// One of the concurrency test's workers: for `seconds`, write random blocks to its own file and to its
// own stripe of the shared file, reading back at random, then print the sha256 of what it wrote.
// usage: node stress-worker.js DIR ID SECONDS
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const [dir, idStr, secStr] = process.argv.slice(2);
const id = Number(idStr);
const BLOCK = 4096;
const BLOCKS = 64;
const own = path.join(dir, `own-${id}`);
const shared = path.join(dir, 'shared');
const mine = Buffer.alloc(BLOCK * BLOCKS);
const stripe = Buffer.alloc(BLOCK * BLOCKS);
const fdOwn = fs.openSync(own, 'w+');
const fdShared = fs.openSync(shared, 'r+');
const stripeBase = id * BLOCK * BLOCKS;
const until = Date.now() + Number(secStr) * 1000;
let ops = 0;
let mismatches = 0;
while (Date.now() < until) {
  const b = Math.floor(Math.random() * BLOCKS);
  const data = crypto.randomBytes(BLOCK);
  if (ops % 2 === 0) {
    fs.writeSync(fdOwn, data, 0, BLOCK, b * BLOCK);
    data.copy(mine, b * BLOCK);
  } else {
    fs.writeSync(fdShared, data, 0, BLOCK, stripeBase + b * BLOCK);
    data.copy(stripe, b * BLOCK);
  }
  if (ops % 5 === 0) {
    const back = Buffer.alloc(BLOCK);
    const r = Math.floor(Math.random() * BLOCKS);
    fs.readSync(fdShared, back, 0, BLOCK, stripeBase + r * BLOCK);
    if (!back.equals(stripe.subarray(r * BLOCK, (r + 1) * BLOCK))) mismatches++;
  }
  ops++;
}
fs.closeSync(fdOwn);
fs.closeSync(fdShared);
const hash = (b) => crypto.createHash('sha256').update(b).digest('hex');
process.stdout.write(JSON.stringify({ id, ops, mismatches, own: hash(mine), stripe: hash(stripe) }));
