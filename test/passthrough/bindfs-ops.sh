#!/bin/bash
# One script of operations, run in a bindfs mount and in a layerfs mount made with the same flags, as
# root and as an unprivileged user; the two outputs must match line by line (bindfs-policies.test.ts).
# Usage: bindfs-ops.sh MOUNTPOINT TAG (TAG keeps the names one run makes apart from another's).
M=$1
T=$2
cd "$M" || exit 1
# An operation and its outcome: the exit status and the error text (without the program's prefix).
r() {
  local out
  out=$("$@" 2>&1)
  local rc=$?
  echo "$* -> $rc ${out##*: }"
}
# Every entry: type and bits, owner, group, link count, size, and for an entry the test has not
# changed (its mtime is still the tree's fixed 2001 one) whether ctime shows equal to mtime.
list() {
  echo "-- $1"
  find . -mindepth 1 -maxdepth 2 2>/dev/null | LC_ALL=C sort | while read -r p; do
    stat -c '%n %A %u %g %h %s %.9Y %.9Z' "$p" 2>&1 | awk '{ if (NF == 8) print $1, $2, $3, $4, $5, $6, ($7 >= 1000000000 ? "-" : $7 == $8 ? "c=m" : "c!=m"); else print }'
  done
  stat -c '. %A %u %g' . 2>&1
}
list start
r touch "pub/new-$T"
r mkdir "pub/dir-$T"
r sh -c "echo data > pub/file-$T"
r chmod 0640 "pub/file-$T"
r chmod 0755 mine
r chmod u+x mine
r chmod 0700 "pub/dir-$T"
r chown 65534 mine
r chgrp 65534 mine
r chown 0 mine
r chown 1234:1234 "pub/file-$T"
r chgrp 0 "pub/new-$T"
r setfattr -n user.t -v "$T" mine
r getfattr --only-values -n user.t mine
r getfattr --only-values -n user.seed seeded
r setfattr -x user.seed seeded
r rm "pub/victim-$T"
r rmdir "pub/empty-$T"
r mv "pub/mv-$T" "pub/moved-$T"
r ln "pub/file-$T" "pub/link-$T"
r ln -s target "pub/sym-$T"
r test -r secret
r test -w secret
r test -x script
r cat secret
r sh -c "echo more >> mine"
r sh -c "echo more >> ro-file"
r ./script
r ls sub
r touch sub/in-sub
# bindfs (libfuse's high-level API) caches attributes by path for a second: a hard link's other name
# shows the old size and link count until then. Wait it out, so what is compared is the policy.
sleep 1.1
list end
