// Builds the fuse-native C source with layerfs's fixes. fuse-native 2.2.6 (MIT) ships its C source;
// we apply four small edits and compile it with node-gyp (npm's own), so nothing is downloaded:
//   1. utimens: pass atime AND mtime, as seconds + nanoseconds (stock: atime twice, in milliseconds,
//      so mtime was lost and UTIME_NOW/UTIME_OMIT arrived as garbage).
//   2. create: pass the open flags (stock: mode only, so O_APPEND/O_SYNC on a creating open were lost).
//   3. stat: read st_ino's high 32 bits and nanosecond times from four extra array slots, and read
//      times as signed (stock: a time before 1970 became a date in the year 584 million).
//   4. set libfuse's flag_utime_omit_ok (without it libfuse 2 silently drops a SETATTR that sets only
//      atime or only mtime: touch -a, touch -m) and flag_nullpath_ok (with hard_remove, an unlinked
//      open file is served by handle with no path, instead of being renamed to .fuse_hiddenNNN),
//      passing a missing path to JavaScript as "".
//   5. export `layerfs_patch` so the bridge can tell the patched binding from the stock one.
//   6. the caller: each libfuse thread records fuse_get_context()'s uid, gid, pid and umask with its
//      request; the main thread copies them into one static array just before it calls into
//      JavaScript, and `layerfs_caller_buffer()` hands JavaScript that array (read synchronously at
//      the start of every request; JavaScript runs one callback at a time, so it cannot go stale).
//   7. names as bytes: every path, name and link target goes to JavaScript as a Latin-1 string (one
//      character per byte) and readdir's names and readlink's target come back the same way, so a
//      name that is not UTF-8 keeps its bytes (stock: UTF-8 both ways, each such byte U+FFFD). The
//      transport turns those strings into names (backing-io's host-names.ts) and back.
// Each edit must match exactly as often as expected (once, unless it says otherwise), so a different
// fuse-native version fails here, loudly.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const PATCH_VERSION = 6;

const edits = [
  ['struct field for the utimens times', '  size_t mtime;\n', '  size_t mtime;\n  const struct timespec *tv;\n'],
  [
    'utimens passes both times with nanoseconds',
    `FUSE_METHOD_VOID(utimens, 5, 0, (const char *path, const struct timespec tv[2]), {
  l->path = path;
  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)
})`,
    `FUSE_METHOD_VOID(utimens, 7, 0, (const char *path, const struct timespec tv[2]), {
  l->path = path;
  l->tv = tv;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV((uint64_t) l->tv[0].tv_sec, 3)
  napi_create_uint32(env, (uint32_t) l->tv[0].tv_nsec, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV((uint64_t) l->tv[1].tv_sec, 6)
  napi_create_uint32(env, (uint32_t) l->tv[1].tv_nsec, &(argv[8]));
})`,
  ],
  [
    'create passes the open flags',
    `FUSE_METHOD(create, 2, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
}`,
    `FUSE_METHOD(create, 3, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  napi_create_uint32(env, l->info->flags, &(argv[4]));
}`,
  ],
  [
    'stat carries 64-bit st_ino and nanoseconds',
    `  uint32s_to_timespec(&stat->st_atim, &ints);
  uint32s_to_timespec(&stat->st_mtim, &ints);
  uint32s_to_timespec(&stat->st_ctim, &ints);
#endif`,
    `  uint32s_to_timespec(&stat->st_atim, &ints);
  uint32s_to_timespec(&stat->st_mtim, &ints);
  uint32s_to_timespec(&stat->st_ctim, &ints);
  stat->st_ino |= ((ino_t) *ints++) << 32;
  stat->st_atim.tv_nsec = *ints++;
  stat->st_mtim.tv_nsec = *ints++;
  stat->st_ctim.tv_nsec = *ints++;
#endif`,
  ],
  [
    'the stock utimens helper is unused now',
    'static uint64_t timespec_to_uint64 (',
    'static __attribute__((unused)) uint64_t timespec_to_uint64 (',
  ],
  [
    'stat times are signed milliseconds',
    `static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  uint64_t ms = uint32s_to_uint64(ints);
  ts->tv_sec = ms / 1000;
  ts->tv_nsec = (ms % 1000) * 1000000;
}`,
    `static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  int64_t ms = (int64_t) uint32s_to_uint64(ints);
  int64_t sec = ms / 1000;
  int64_t rem = ms % 1000;
  if (rem < 0) { sec -= 1; rem += 1000; }
  ts->tv_sec = sec;
  ts->tv_nsec = rem * 1000000;
}`,
  ],
  [
    'libfuse flags: UTIME_OMIT understood, NULL path for unlinked open files',
    '  if (implemented[op_init]) ops.init = fuse_native_init;\n',
    '  if (implemented[op_init]) ops.init = fuse_native_init;\n  ops.flag_utime_omit_ok = 1;\n  ops.flag_nullpath_ok = 1;\n',
  ],
  [
    'a NULL path reaches JavaScript as ""',
    'napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH',
    'napi_create_string_utf8(env, l->path ? l->path : "", NAPI_AUTO_LENGTH',
    34,
  ],
  ['a place for the caller in the per-thread request', '  int32_t res;\n', '  int32_t res;\n  uint32_t caller[4];\n'],
  [
    'the caller of the request being dispatched, for JavaScript',
    'static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;\n',
    'static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;\nstatic uint32_t layerfs_caller[4];\n',
  ],
  [
    'each libfuse thread records its caller',
    '  l->op_fn = fuse_native_dispatch_##name;\\\n',
    '  l->op_fn = fuse_native_dispatch_##name;\\\n' +
      '  { struct fuse_context *fc = fuse_get_context(); l->caller[0] = fc->uid; l->caller[1] = fc->gid; l->caller[2] = (uint32_t) fc->pid; l->caller[3] = fc->umask; }\\\n',
  ],
  [
    'the main thread publishes it right before calling JavaScript',
    '      napi_value argv[callbackArgs + 2];\\\n',
    '      napi_value argv[callbackArgs + 2];\\\n      memcpy(layerfs_caller, l->caller, sizeof(layerfs_caller));\\\n',
  ],
  [
    'export the patch version and the caller buffer',
    'NAPI_INIT() {\n',
    `static const uint32_t layerfs_patch = ${PATCH_VERSION};\n\n` +
      'NAPI_METHOD(layerfs_caller_buffer) {\n  napi_value buf;\n  (void) info;\n' +
      '  napi_create_external_arraybuffer(env, layerfs_caller, sizeof(layerfs_caller), NULL, NULL, &buf);\n  return buf;\n}\n\n' +
      'NAPI_INIT() {\n  NAPI_EXPORT_UINT32(layerfs_patch)\n  NAPI_EXPORT_FUNCTION(layerfs_caller_buffer)\n',
  ],
];

// 7: after the edits above (which made every path argument `l->path ? l->path : ""`).
edits.push(
  [
    'paths to JavaScript as bytes',
    'napi_create_string_utf8(env, l->path ? l->path : ""',
    'napi_create_string_latin1(env, l->path ? l->path : ""',
    34,
  ],
  ['xattr names to JavaScript as bytes', 'napi_create_string_utf8(env, l->name', 'napi_create_string_latin1(env, l->name', 5],
  [
    'rename, link and symlink destinations to JavaScript as bytes',
    'napi_create_string_utf8(env, l->dest',
    'napi_create_string_latin1(env, l->dest',
    3,
  ],
  [
    "readdir's names back as bytes",
    '      NAPI_UTF8(name, 1024, raw_name)\n',
    '      char name[1024]; size_t name_len;\n' +
      '      if (napi_get_value_string_latin1(env, raw_name, (char *) &name, 1024, &name_len) != napi_ok) { napi_throw_error(env, "EINVAL", "Expected string"); return NULL; }\n',
    2,
  ],
  [
    "readlink's target back as bytes",
    '  NAPI_ARGV_UTF8(linkname, l->len, 2)\n',
    '  char linkname[l->len]; size_t linkname_len;\n' +
      '  if (napi_get_value_string_latin1(env, argv[2], (char *) &linkname, l->len, &linkname_len) != napi_ok) { napi_throw_error(env, "EINVAL", "Expected string"); return NULL; }\n',
  ],
);

function patchedSource(original) {
  let src = original;
  for (const [what, from, to, times = 1] of edits) {
    const count = src.split(from).length - 1;
    if (count !== times)
      throw new Error(`fuse-native patch "${what}": expected ${times} match(es), found ${count} (a different fuse-native version?)`);
    src = src.split(from).join(to);
  }
  return src;
}

function writePatchedSource(outDir) {
  const fuseNative = path.dirname(require.resolve('fuse-native/package.json'));
  const original = fs.readFileSync(path.join(fuseNative, 'fuse-native.c'), 'utf8');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'fuse-native.c'), patchedSource(original));
  fs.copyFileSync(path.join(fuseNative, 'semaphore.h'), path.join(outDir, 'semaphore.h'));
  return fuseNative;
}

module.exports = { PATCH_VERSION, writePatchedSource };
