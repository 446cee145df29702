// What the podman test and the podman benchmark (bench/podman-build.js) both build on: a user with
// subuids for rootless podman, and a build context whose base image is made from busybox-static (a
// tarball to `podman import`: nothing is pulled from a registry). CommonJS, so the benchmark can
// require it without a build.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// COPY of a tree, then RUN steps that copy up, delete, and move a lower directory and a lower file
// away and back.
const CONTAINERFILE = `FROM localhost/layerfs-bb
COPY tree /tree
RUN echo appended >> /tree/f1 && rm /tree/f2 && chmod 600 /tree/f3 && mkdir /new && echo n > /new/n
RUN mv /tree/d /tree/d.moved && mv /tree/d.moved /tree/d && rm -rf /tree/f10 && ln -s f4 /tree/link
RUN rm /tree/f5 && echo back > /tree/f5 && mv /bin/cat /bin/cat2 && mv /bin/cat2 /bin/cat
`;

// The benchmark's heavier build (`--large`): steps whose work takes seconds, so that the mount
// program's speed shows — each step of a build starts on a whole second of the wall clock (seen with
// every mount program), which quantizes a build of short steps to whole seconds.
const LARGE_CONTAINERFILE = `FROM localhost/layerfs-bb
COPY tree /tree
RUN find /tree -name 'f*1' -type f | xargs sed -i 's/file/FILE/' && cat /tree/d*/f* > /dev/null
RUN tar -C / -cf /tmp/t.tar tree && mkdir /copy && tar -C /copy -xf /tmp/t.tar && rm /tmp/t.tar
RUN rm -rf /tree/d1* && mv /tree/d2 /tree/d2.moved && mv /tree/d2.moved /tree/d2 && ls -lR /copy > /dev/null
`;

/** A user (created without a home when missing) with 65536 subuids and subgids; its uid. */
function ensureSubuidUser(name) {
  if (spawnSync('id', [name]).status !== 0) execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', name]);
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (
      !fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => l.startsWith(`${name}:`))
    )
      fs.appendFileSync(f, `${name}:300000:65536\n`);
  }
  return Number(execFileSync('id', ['-u', name]).toString());
}

/**
 * In `dir`: rootfs.tar (busybox-static, an applet link each) and ctx/ (the Containerfile and a tree
 * of 200 files; with `large`, the heavier Containerfile and a tree of 40 directories of 100 files).
 */
function busyboxBuild(dir, busybox = '/bin/busybox', { large = false } = {}) {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of execFileSync(busybox, ['--list']).toString().split('\n')) {
    if (applet && applet !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\n');
  const tar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  const ctx = path.join(dir, 'ctx');
  fs.mkdirSync(path.join(ctx, 'tree', 'd', 'sub'), { recursive: true });
  for (let i = 1; i <= 200; i++) fs.writeFileSync(path.join(ctx, 'tree', `f${i}`), `file ${i}\n`);
  fs.writeFileSync(path.join(ctx, 'tree', 'd', 'a'), 'a\n');
  fs.writeFileSync(path.join(ctx, 'tree', 'd', 'sub', 's'), 's\n');
  if (large) {
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(path.join(ctx, 'tree', `d${d}`), { recursive: true });
      for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(ctx, 'tree', `d${d}`, `f${i}`), `file ${d}/${i}\n`.repeat(40));
    }
  }
  fs.writeFileSync(path.join(ctx, 'Containerfile'), large ? LARGE_CONTAINERFILE : CONTAINERFILE);
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return { tar, ctx };
}

/**
 * End rootless podman's pause processes of `user` (catatonit, one per XDG_RUNTIME_DIR used). Each
 * holds a user and mount namespace made while other mounts were up; the copies of FUSE mounts in
 * it keep their superblocks, so an unmount on the host never ends those daemons (seen: two layerfs
 * daemons alive two hours after `layerfs umount`).
 */
function stopPauseProcesses(user) {
  spawnSync('pkill', ['-KILL', '-u', user, '-x', 'catatonit']);
}

module.exports = { CONTAINERFILE, ensureSubuidUser, busyboxBuild, stopPauseProcesses };
