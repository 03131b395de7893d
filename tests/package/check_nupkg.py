#!/usr/bin/env python3
"""Checks an OAuthMail .nupkg: check_nupkg.py FILE.nupkg VERSION

- a sound zip whose entries are exactly the expected ones: the manifest at the root, both lib
  TFMs (net45, netstandard2.0) with their docs, the three runtimes, the build and
  buildTransitive targets, README.md, and the OPC parts ([Content_Types].xml, _rels/.rels, one
  package/services/metadata/core-properties/*.psmdcp);
- the manifest: id OAuthMail, the version, license expression MIT OR Apache-2.0, readme
  README.md, authors, description, a dependency group per TFM, no <files>;
- the OPC parts: the relationships name the manifest and the core properties, which carry the
  same id and version; every part has a content type;
- each file is what its path says: .NET assemblies under lib/ (a CLI header), an i386 and an
  x86-64 Windows DLL, an x86-64 ELF shared library, XML targets and docs.
Prints "ok - ..." / "not ok - ..." lines; exit status 1 when one failed.
"""

import re
import struct
import sys
import xml.etree.ElementTree as ET
import zipfile

NS = {"n": "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"}
failed = 0


def ok(cond, what, why=""):
    global failed
    if cond:
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what + (" (%s)" % why if why else ""))


def pe(data):
    """(machine, is_dll, has_cli_header) of a PE image, or None."""
    if data[:2] != b"MZ" or len(data) < 0x40:
        return None
    off = struct.unpack_from("<I", data, 0x3C)[0]
    if data[off:off + 4] != b"PE\0\0":
        return None
    machine, _n, _t, _p, _s, opt_size, chars = struct.unpack_from("<HHIIIHH", data, off + 4)
    opt = off + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    dirs = opt + (96 if magic == 0x10B else 112)
    cli_rva, cli_size = struct.unpack_from("<II", data, dirs + 14 * 8)
    return machine, bool(chars & 0x2000), cli_size > 0 and cli_rva > 0


def main():
    path, version = sys.argv[1], sys.argv[2]
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        ok(False, "the .nupkg is a zip", str(e))
        return 1
    bad = zf.testzip()
    ok(bad is None, "the .nupkg's entries all read back (CRC)", bad or "")
    names = zf.namelist()
    ok(len(names) == len(set(names)), "no entry twice")
    psmdcp = [n for n in names if re.fullmatch(r"package/services/metadata/core-properties/[0-9a-f]{32}\.psmdcp", n)]
    ok(len(psmdcp) == 1, "one core-properties part (.psmdcp)", str(psmdcp))
    expected = {
        "[Content_Types].xml", "_rels/.rels", "OAuthMail.nuspec", "README.md",
        "lib/net45/OAuthMail.dll", "lib/net45/OAuthMail.xml",
        "lib/netstandard2.0/OAuthMail.dll", "lib/netstandard2.0/OAuthMail.xml",
        "runtimes/win-x86/native/oauthmail.dll", "runtimes/win-x64/native/oauthmail.dll",
        "runtimes/linux-x64/native/liboauthmail.so",
        "build/net45/OAuthMail.targets", "buildTransitive/net45/OAuthMail.targets",
    } | set(psmdcp[:1])
    got = set(names)
    ok(got == expected, "the entries are exactly the expected %d" % len(expected),
       "missing: %s; unexpected: %s" % (sorted(expected - got), sorted(got - expected)))
    if not {"OAuthMail.nuspec", "_rels/.rels", "[Content_Types].xml"} <= got:
        return 1

    # --- the manifest
    spec = ET.fromstring(zf.read("OAuthMail.nuspec"))
    md = spec.find("n:metadata", NS)

    def text(tag):
        e = md.find("n:" + tag, NS) if md is not None else None
        return (e.text or "").strip() if e is not None else None

    ok(md is not None, "the manifest has <metadata> in the 2013/05 nuspec namespace")
    ok(text("id") == "OAuthMail", "nuspec id OAuthMail", str(text("id")))
    ok(text("version") == version, "nuspec version %s (Cargo.toml)" % version, str(text("version")))
    lic = md.find("n:license", NS)
    ok(lic is not None and lic.get("type") == "expression" and (lic.text or "").strip() == "MIT OR Apache-2.0",
       "nuspec license: expression MIT OR Apache-2.0", "" if lic is None else "%s %s" % (lic.get("type"), lic.text))
    ok(text("readme") == "README.md", "nuspec readme README.md (in the package)", str(text("readme")))
    ok(bool(text("authors")), "nuspec authors", str(text("authors")))
    ok(len(text("description") or "") > 40, "nuspec description")
    ok(text("requireLicenseAcceptance") == "false", "nuspec requireLicenseAcceptance false")
    groups = sorted(g.get("targetFramework") for g in spec.iterfind("n:metadata/n:dependencies/n:group", NS))
    ok(groups == [".NETFramework4.5", ".NETStandard2.0"], "dependency groups for .NETFramework4.5 and .NETStandard2.0, no dependencies",
       str(groups))
    ok(not list(spec.iterfind("n:metadata/n:dependencies/n:group/n:dependency", NS)), "no package dependencies")
    ok(spec.find("n:files", NS) is None, "no <files> in a packed manifest")
    readme = zf.read("README.md").decode("utf-8")
    ok("OAuthMail" in readme and "runtimes/win-x64/native" in readme, "README.md is the package's README")

    # --- OPC parts
    rels = ET.fromstring(zf.read("_rels/.rels"))
    targets = {r.get("Type").rsplit("/", 1)[-1]: r.get("Target") for r in rels}
    ok(targets.get("manifest") == "/OAuthMail.nuspec", "_rels/.rels names the manifest", str(targets))
    ok(psmdcp and targets.get("core-properties") == "/" + psmdcp[0], "_rels/.rels names the core properties", str(targets))
    ids = [r.get("Id") for r in rels]
    ok(all(i and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", i) for i in ids) and len(set(ids)) == len(ids),
       "relationship ids are unique XML names", str(ids))
    if psmdcp:
        core = zf.read(psmdcp[0]).decode("utf-8")
        ok("<dc:identifier>OAuthMail</dc:identifier>" in core and "<version>%s</version>" % version in core,
           "core properties: id and version")
    types = ET.fromstring(zf.read("[Content_Types].xml"))
    defaults = {d.get("Extension").lower() for d in types if d.tag.endswith("Default")}
    overrides = {o.get("PartName") for o in types if o.tag.endswith("Override")}
    untyped = [n for n in names if n != "[Content_Types].xml" and
               ("/" + n) not in overrides and n.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() not in defaults]
    ok(not untyped, "[Content_Types].xml gives every part a content type", str(untyped))

    # --- the files themselves
    if not expected <= got:
        return 1
    for tfm in ("net45", "netstandard2.0"):
        info = pe(zf.read("lib/%s/OAuthMail.dll" % tfm))
        ok(info is not None and info[1] and info[2], "lib/%s/OAuthMail.dll is a .NET assembly (DLL with a CLI header)" % tfm, str(info))
        doc = ET.fromstring(zf.read("lib/%s/OAuthMail.xml" % tfm))
        ok(doc.findtext("assembly/name") == "OAuthMail" and len(doc.findall("members/member")) > 100,
           "lib/%s/OAuthMail.xml is its IntelliSense documentation" % tfm)
    ok(zf.read("lib/net45/OAuthMail.dll") != zf.read("lib/netstandard2.0/OAuthMail.dll"), "the two lib assemblies differ")
    for rid, machine in (("win-x86", 0x14C), ("win-x64", 0x8664)):
        info = pe(zf.read("runtimes/%s/native/oauthmail.dll" % rid))
        ok(info is not None and info[0] == machine and info[1] and not info[2],
           "runtimes/%s/native/oauthmail.dll is a native %s DLL" % (rid, "i386" if machine == 0x14C else "x86-64"),
           "machine 0x%x" % info[0] if info else "not PE")
    so = zf.read("runtimes/linux-x64/native/liboauthmail.so")
    ok(so[:4] == b"\x7fELF" and so[4] == 2 and struct.unpack_from("<HH", so, 16) == (3, 62),
       "runtimes/linux-x64/native/liboauthmail.so is an x86-64 ELF shared object")
    for t in ("build/net45/OAuthMail.targets", "buildTransitive/net45/OAuthMail.targets"):
        proj = ET.fromstring(zf.read(t))
        links = sorted(e.findtext("{http://schemas.microsoft.com/developer/msbuild/2003}Link") or ""
                       for e in proj.iter("{http://schemas.microsoft.com/developer/msbuild/2003}None"))
        ok(links == ["liboauthmail.so", "x64\\oauthmail.dll", "x86\\oauthmail.dll"],
           "%s copies x86\\, x64\\oauthmail.dll and liboauthmail.so" % t, str(links))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
