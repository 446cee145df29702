{
  "targets": [{
    "target_name": "fuse",
    "include_dirs": [
      "<!(node -e \"require('napi-macros')\")",
      "<!(node -e \"require('fuse-shared-library/include')\")"
    ],
    "libraries": ["<!(node -e \"require('fuse-shared-library/lib')\")"],
    "sources": ["build-src/fuse-native.c"],
    "cflags": ["-g", "-O3", "-Wall"]
  }]
}
