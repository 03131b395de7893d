#!/usr/bin/env python3
"""Prints what a Windows DLL is, from its headers alone (no Windows tools needed):

    pe_info.py FILE...   ->   FILE machine=x86|x64|other(0x....) dll=yes|no version=A.B.C.D|none

machine: IMAGE_FILE_HEADER.Machine (0x14c i386, 0x8664 AMD64); dll: IMAGE_FILE_DLL in its
Characteristics; version: VS_FIXEDFILEINFO.dwFileVersion from the VERSIONINFO resource (found
by its 0xFEEF04BD signature). Exit status 1 when a file is not a PE image.
Used by scripts/package.sh to refuse a DLL of the wrong bitness or of another version.
"""

import struct
import sys

MACHINES = {0x14C: "x86", 0x8664: "x64", 0xAA64: "arm64"}


def info(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"MZ" or len(data) < 0x40:
        raise ValueError("no MZ header")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError("no PE signature")
    machine, _sections, _ts, _sym, _nsym, _opt, chars = struct.unpack_from("<HHIIIHH", data, pe + 4)
    name = MACHINES.get(machine, "other(0x%04x)" % machine)
    dll = "yes" if chars & 0x2000 else "no"
    version = "none"
    sig = data.find(struct.pack("<I", 0xFEEF04BD))
    if sig >= 0 and sig + 16 <= len(data):
        ms, ls = struct.unpack_from("<II", data, sig + 8)
        version = "%d.%d.%d.%d" % (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF)
    return name, dll, version


def main():
    bad = 0
    for path in sys.argv[1:]:
        try:
            name, dll, version = info(path)
        except (OSError, ValueError, struct.error) as e:
            print("%s: not a PE image (%s)" % (path, e), file=sys.stderr)
            bad = 1
            continue
        print("%s machine=%s dll=%s version=%s" % (path, name, dll, version))
    return bad


if __name__ == "__main__":
    sys.exit(main())
