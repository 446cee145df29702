#!/usr/bin/env node
// CPU time of FUSE daemons while something else runs: `node bench/daemon-cpu.js OUT STOP PREFIX...`
// samples /proc every 10 ms for processes whose command line starts with one of the PREFIXes (a
// daemon's title or path) and, once the file STOP exists, writes to OUT the CPU they used meanwhile
// (ms, all threads, from /proc/PID/task/*/schedstat): a daemon already running at the start counts
// from then, one started later from its start. A daemon that exits between two samples loses at
// most its last 10 ms. OUT.ready appears after the first sample. bench/podman-build.js runs it
// around each build.
'use strict';
const fs = require('node:fs');
const { setInterval, clearInterval } = require('node:timers');

const [out, stop, ...prefixes] = process.argv.slice(2);
/** pid → [cpu ns at first sight (0 if it started after us), cpu ns last seen] */
const seen = new Map();
let first = true;

function cpuNs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`))
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns;
}

function sample() {
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!prefixes.some((p) => cmd.startsWith(p))) continue;
      const ns = cpuNs(pid);
      const s = seen.get(pid);
      if (s) s[1] = ns;
      else seen.set(pid, [first ? ns : 0, ns]);
    } catch {
      // gone meanwhile
    }
  }
  first = false;
}

const timer = setInterval(() => {
  sample();
  if (fs.existsSync(stop)) {
    clearInterval(timer);
    let ns = 0;
    for (const [base, last] of seen.values()) ns += last - base;
    // Written aside and renamed: the waiting bench reads the file as soon as its name exists.
    fs.writeFileSync(`${out}.tmp`, JSON.stringify({ cpuMs: ns / 1e6, daemons: seen.size }));
    fs.renameSync(`${out}.tmp`, out);
  }
}, 10);
sample();
fs.writeFileSync(`${out}.ready`, '');
