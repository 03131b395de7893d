#!/usr/bin/env python3
"""Zips a directory reproducibly: zipdir.py DIR OUT.zip PREFIX [MTIME]

Every file under DIR goes in as PREFIX/<path relative to DIR>, in sorted order, deflated
(already-compressed .nupkg files stored), all with the timestamp MTIME (Unix seconds; default
SOURCE_DATE_EPOCH, else now), mode 755 for executables and 644 for the rest, plus an entry per
directory. Symbolic links and special files are refused.
"""

import os
import stat
import sys
import time
import zipfile


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    src, out, prefix = sys.argv[1], sys.argv[2], sys.argv[3].strip("/")
    mtime = int(sys.argv[4]) if len(sys.argv) == 5 else int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    stamp = time.gmtime(max(mtime, 315532800))[:6]

    entries = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        rel_root = os.path.relpath(root, src)
        for d in dirs:
            entries.append((os.path.normpath(os.path.join(rel_root, d)), True))
        for f in sorted(files):
            entries.append((os.path.normpath(os.path.join(rel_root, f)), False))
    entries.sort()

    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        zi = zipfile.ZipInfo(prefix + "/", stamp)
        zi.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(zi, b"")
        for rel, is_dir in entries:
            path = os.path.join(src, rel)
            st = os.lstat(path)
            name = prefix + "/" + rel.replace(os.sep, "/")
            if is_dir:
                if not stat.S_ISDIR(st.st_mode):
                    raise SystemExit("zipdir: %s is not a directory" % path)
                zi = zipfile.ZipInfo(name + "/", stamp)
                zi.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(zi, b"")
                continue
            if not stat.S_ISREG(st.st_mode):
                raise SystemExit("zipdir: %s is not a regular file" % path)
            zi = zipfile.ZipInfo(name, stamp)
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            zi.external_attr = (stat.S_IFREG | mode) << 16
            zi.compress_type = zipfile.ZIP_STORED if name.endswith(".nupkg") else zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                zf.writestr(zi, f.read())
    os.replace(tmp, out)
    print("zipdir: %s (%d entries)" % (out, len(entries) + 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
