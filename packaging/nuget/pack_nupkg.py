#!/usr/bin/env python3
"""Writes a .nupkg the way `nuget pack` / `dotnet pack` lay it out (an OPC zip):

    <id>.nuspec                                         the manifest, at the root
    <files>                                             lib/, runtimes/, build/, README.md ...
    _rels/.rels                                         relationships: manifest, core properties
    package/services/metadata/core-properties/<hex>.psmdcp
    [Content_Types].xml                                 a Default per extension, an Override
                                                        per file without one

Used instead of Debian's NuGet 2.8.7 `nuget pack`, which predates the <license> and <readme>
elements and refuses them. The output is reproducible: entries in a fixed order, every
timestamp set to --mtime, the relationship ids and the .psmdcp name derived from the content.

Usage:
  pack_nupkg.py --nuspec TEMPLATE --out OUT.nupkg [--var KEY=VALUE ...] [--mtime EPOCH]
                --file SRC=PATH/IN/PACKAGE ...
@KEY@ in the template is replaced by VALUE, XML-escaped. The filled manifest must have an
<id>, a <version>, and name a <readme> that is among the files.
"""

import argparse
import hashlib
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from xml.sax.saxutils import escape

NUSPEC_NS = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"
# The OPC parts NuGet reserves: no package file may take these names.
RESERVED = ("_rels/", "package/", "[Content_Types].xml")


def fail(msg):
    print("pack_nupkg: " + msg, file=sys.stderr)
    sys.exit(1)


def fill(template, variables):
    def sub(m):
        key = m.group(1)
        if key not in variables:
            fail("the template uses @%s@, not given with --var" % key)
        return escape(variables[key])

    return re.sub(r"@([A-Z_]+)@", sub, template)


def metadata(nuspec_text):
    try:
        root = ET.fromstring(nuspec_text.encode("utf-8"))
    except ET.ParseError as e:
        fail("the manifest is not well-formed XML: %s" % e)
    if root.tag != "{%s}package" % NUSPEC_NS:
        fail("the manifest's root is %s, not <package> in %s" % (root.tag, NUSPEC_NS))
    md = root.find("{%s}metadata" % NUSPEC_NS)
    if md is None:
        fail("the manifest has no <metadata>")
    out = {}
    for child in md:
        tag = child.tag.split("}", 1)[-1]
        if child.text and child.text.strip():
            out[tag] = child.text.strip()
    for key in ("id", "version", "authors", "description"):
        if key not in out:
            fail("the manifest has no <%s>" % key)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", out["id"]):
        fail("bad package id %r" % out["id"])
    if not re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", out["version"]):
        fail("bad package version %r" % out["version"])
    return out


def content_types(paths):
    defaults = {"rels": "application/vnd.openxmlformats-package.relationships+xml",
                "psmdcp": "application/vnd.openxmlformats-package.core-properties+xml"}
    overrides = []
    for p in paths:
        name = p.rsplit("/", 1)[-1]
        if "." in name:
            ext = name.rsplit(".", 1)[-1].lower()
            defaults.setdefault(ext, "application/octet")
        else:
            overrides.append(p)
    xml = ['<?xml version="1.0" encoding="utf-8"?>',
           '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">']
    for ext in sorted(defaults):
        xml.append('<Default Extension="%s" ContentType="%s" />' % (escape(ext), defaults[ext]))
    for p in overrides:
        xml.append('<Override PartName="/%s" ContentType="application/octet" />' % escape(p))
    xml.append("</Types>")
    return "".join(xml)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nuspec", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--var", action="append", default=[])
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--mtime", type=int, default=None)
    a = ap.parse_args()

    variables = {}
    for v in a.var:
        k, sep, val = v.partition("=")
        if not sep:
            fail("--var %r: KEY=VALUE expected" % v)
        variables[k] = val
    with open(a.nuspec, encoding="utf-8") as f:
        nuspec = fill(f.read(), variables)
    md = metadata(nuspec)
    pkg_id, version = md["id"], md["version"]

    files = []
    for spec in a.file:
        src, sep, dest = spec.partition("=")
        if not sep or not dest:
            fail("--file %r: SRC=PATH expected" % spec)
        dest = dest.replace("\\", "/").lstrip("/")
        if not os.path.isfile(src):
            fail("missing file %s (for %s)" % (src, dest))
        if dest.startswith(RESERVED) or dest.lower() == (pkg_id + ".nuspec").lower():
            fail("%s is a name the package format reserves" % dest)
        if not re.fullmatch(r"[A-Za-z0-9_.+/-]+", dest):
            fail("%s: keep package paths to ASCII letters, digits and _.+-/" % dest)
        files.append((src, dest))
    dests = [d.lower() for _, d in files]
    if len(set(dests)) != len(dests):
        fail("the same package path is given twice")
    readme = md.get("readme")
    if readme and readme.lower() not in dests:
        fail("<readme> names %s, which is not among the files" % readme)

    mtime = a.mtime if a.mtime is not None else int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    stamp = time.gmtime(max(mtime, 315532800))[:6]  # zip dates start in 1980

    digest = hashlib.sha256(nuspec.encode("utf-8"))
    for src, dest in files:
        digest.update(dest.encode("utf-8"))
        with open(src, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    h = digest.hexdigest()
    psmdcp = "package/services/metadata/core-properties/%s.psmdcp" % h[:32]
    nuspec_name = pkg_id + ".nuspec"

    rels = ('<?xml version="1.0" encoding="utf-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" '
            'Target="/%s" Id="R%s" />'
            '<Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
            'Target="/%s" Id="R%s" />'
            '</Relationships>') % (escape(nuspec_name), h[32:48].upper(), psmdcp, h[48:64].upper())
    core = ['<?xml version="1.0" encoding="utf-8"?>',
            '<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">',
            "<dc:creator>%s</dc:creator>" % escape(md["authors"]),
            "<dc:description>%s</dc:description>" % escape(md["description"]),
            "<dc:identifier>%s</dc:identifier>" % escape(pkg_id),
            "<version>%s</version>" % escape(version)]
    if "tags" in md:
        core.append("<keywords>%s</keywords>" % escape(md["tags"]))
    core.append("<lastModifiedBy>oauthmail packaging/nuget/pack_nupkg.py</lastModifiedBy>")
    core.append("</coreProperties>")
    types = content_types([nuspec_name] + [d for _, d in files] + [psmdcp])

    def entry(zf, name, data):
        zi = zipfile.ZipInfo(name, stamp)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zf.writestr(zi, data)

    tmp = a.out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        entry(zf, "_rels/.rels", rels.encode("utf-8"))
        entry(zf, nuspec_name, nuspec.encode("utf-8"))
        for src, dest in sorted(files, key=lambda x: x[1]):
            with open(src, "rb") as f:
                entry(zf, dest, f.read())
        entry(zf, psmdcp, "".join(core).encode("utf-8"))
        entry(zf, "[Content_Types].xml", types.encode("utf-8"))
    os.replace(tmp, a.out)
    print("pack_nupkg: %s %s -> %s (%d files)" % (pkg_id, version, a.out, len(files)))


if __name__ == "__main__":
    main()
