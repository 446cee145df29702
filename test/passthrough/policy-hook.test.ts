// The passthrough's typed policy hook (mountPassthrough({ policy })), with the two examples of the
// package README run as they are written, and a hook that throws: that request answers EIO, the
// error is logged, and the mount keeps serving. This process serves the mounts, so every access
// goes through another process (run()).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FilePolicy, setLogSink } from '@layerfs/fuse-bridge';
import { PassthroughMount, mountPassthrough } from '@layerfs/passthrough';
import { auditConfWrites } from '../../packages/passthrough/examples/audit-conf';
import { writableOnlyUnder } from '../../packages/passthrough/examples/writable-subtree';
import { TRANSPORT } from '../helpers/cli';
import { run } from '../helpers/run';
import { sourceAndMountpoint } from '../helpers/scratch';

let umask: number;
beforeAll(() => {
  // mountFs clears the process umask (the kernel applied the caller's); put it back for later tests.
  umask = process.umask();
});
afterAll(() => {
  process.umask(umask);
  setLogSink(undefined);
});

async function withPolicy(policy: FilePolicy, files: Record<string, string>, body: (m: PassthroughMount, src: string) => Promise<void>) {
  const s = sourceAndMountpoint(files);
  const m = await mountPassthrough({ source: s.src, mountpoint: s.mnt, policy, transport: TRANSPORT });
  try {
    await body(m, s.src);
  } finally {
    await m.unmount();
    s.cleanup();
  }
}

const sh = (script: string) => run('sh', ['-c', script]);

test('README example: an audit log of writes to *.conf', async () => {
  const lines: string[] = [];
  await withPolicy(
    auditConfWrites((l) => lines.push(l)),
    { 'app.conf': 'old\n', 'data.bin': '' },
    async (m, src) => {
      const mnt = m.mountpoint;
      const w = await sh(`printf 'port=80\\n' > ${mnt}/app.conf && printf 'x' > ${mnt}/data.bin && cat ${mnt}/app.conf`);
      expect({ out: w.stdout, err: w.stderr }).toEqual({ out: 'port=80\n', err: '' });
      expect(lines).toEqual([`uid 0 wrote 8 bytes at 0 of /app.conf`]);
      expect(fs.readFileSync(path.join(src, 'app.conf'), 'utf8')).toBe('port=80\n');
      expect(fs.readFileSync(path.join(src, 'data.bin'), 'utf8')).toBe('x');
      // A new .conf file is audited too, under its own name.
      await sh(`printf 'a' > ${mnt}/new.conf`);
      expect(lines[1]).toBe('uid 0 wrote 1 bytes at 0 of /new.conf');
    },
  );
});

test('README example: one subtree writable, the rest read-only', async () => {
  await withPolicy(writableOnlyUnder('/rw'), { 'top.txt': 'top\n' }, async (m, src) => {
    const mnt = m.mountpoint;
    fs.mkdirSync(path.join(src, 'rw'));
    expect((await sh(`mkdir ${mnt}/rw/d && echo in > ${mnt}/rw/d/f && mv ${mnt}/rw/d/f ${mnt}/rw/g && cat ${mnt}/rw/g`)).stdout).toBe(
      'in\n',
    );
    expect(fs.readFileSync(path.join(src, 'rw', 'g'), 'utf8')).toBe('in\n');
    for (const cmd of [
      `echo x > ${mnt}/top.txt`,
      `echo x >> ${mnt}/top.txt`,
      `touch ${mnt}/new`,
      `mkdir ${mnt}/dir`,
      `rm ${mnt}/top.txt`,
      `chmod 600 ${mnt}/top.txt`,
      `mv ${mnt}/rw/g ${mnt}/escaped`,
      `mv ${mnt}/top.txt ${mnt}/rw/top.txt`,
      `ln ${mnt}/rw/g ${mnt}/hard`,
    ]) {
      const r = await sh(cmd);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: r.code === 0 ? -1 : r.code });
      expect(r.stderr).toMatch(/Read-only file system/);
    }
    expect((await sh(`cat ${mnt}/top.txt`)).stdout).toBe('top\n');
    expect(fs.readdirSync(src).sort()).toEqual(['rw', 'top.txt']);
  });
});

test('a hook that throws: EIO for that request, logged, the mount keeps serving', async () => {
  const logged: string[] = [];
  setLogSink((line) => logged.push(line));
  const policy: FilePolicy = {
    check: (req) => {
      if (req.path === '/boom') throw new Error('policy bug');
    },
  };
  await withPolicy(policy, { boom: 'b', fine: 'f\n' }, async (m) => {
    const mnt = m.mountpoint;
    const r = await sh(`cat ${mnt}/boom`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(logged.some((l) => /policy hook lookup failed: Error: policy bug/.test(l))).toBe(true);
    expect((await sh(`cat ${mnt}/fine && ls ${mnt}`)).stdout).toBe('f\nboom\nfine\n');
  });
});

test('a hook answering an errno denies with it; a promise works the same', async () => {
  const policy: FilePolicy = {
    check: async (req) => (req.op === 'unlink' ? 'EPERM' : req.op === 'mkdir' ? 'EDQUOT' : undefined),
  };
  await withPolicy(policy, { keep: 'k' }, async (m) => {
    expect((await sh(`rm ${m.mountpoint}/keep`)).stderr).toMatch(/Operation not permitted/);
    expect((await sh(`mkdir ${m.mountpoint}/d`)).stderr).toMatch(/Disk quota exceeded/);
    expect((await sh(`cat ${m.mountpoint}/keep`)).stdout).toBe('k');
  });
});
