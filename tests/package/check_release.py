#!/usr/bin/env python3
"""Checks the unpacked release zip: check_release.py TREE VERSION REPO NUPKG

TREE is the zip's top folder (oauthmail-VERSION), REPO the checkout it was made from, NUPKG
the .nupkg scripts/package.sh wrote beside the zip.
- the files are exactly the expected ones;
- SHA256SUMS names every other file once, in sha256sum's format (`sha256sum -c` checks the
  hashes themselves);
- what is copied from the checkout is identical (header, bindings, README, licenses,
  changelog; the Delphi folder's text files with CRLF line ends instead of LF);
- the DLLs: x86/ = delphi/Win32/ = the package's runtimes/win-x86, x64/ likewise;
  nuget/ holds the very .nupkg written beside the zip;
- the licenses and the changelog say what they must.
Prints "ok - ..." / "not ok - ..." lines; exit status 1 when one failed.
"""

import hashlib
import os
import re
import sys
import zipfile

failed = 0


def ok(cond, what, why=""):
    global failed
    if cond:
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what + (" (%s)" % why if why else ""))


def data(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    tree, version, repo, nupkg = sys.argv[1:5]
    nupkg_name = "OAuthMail.%s.nupkg" % version
    expected = {
        "README.md", "CHANGELOG.md", "LICENSE", "LICENSE-MIT", "LICENSE-APACHE", "SHA256SUMS",
        "include/oauthmail.h", "x86/oauthmail.dll", "x64/oauthmail.dll",
        "bindings/delphi/OAuthMail.pas", "bindings/delphi/README.md",
        "bindings/dotnet/OAuthMail.cs", "bindings/dotnet/README.md",
        "delphi/README.txt", "delphi/OAuthMail.pas", "delphi/Win32/oauthmail.dll", "delphi/Win64/oauthmail.dll",
        "delphi/demo/OAuthMailDemo.dpr", "delphi/demo/DemoMain.pas", "delphi/demo/DemoMain.dfm",
        "delphi/demo/settings.example.json",
        "nuget/" + nupkg_name,
    }
    got = set()
    for root, _dirs, files in os.walk(tree):
        for f in files:
            got.add(os.path.relpath(os.path.join(root, f), tree).replace(os.sep, "/"))
    ok(got == expected, "the release holds exactly the expected %d files" % len(expected),
       "missing: %s; unexpected: %s" % (sorted(expected - got), sorted(got - expected)))

    if not expected <= got:
        return 1

    # SHA256SUMS: every other file, once, "<64 hex>  <path>"
    lines = data(os.path.join(tree, "SHA256SUMS")).decode("utf-8").splitlines()
    listed = []
    well_formed = True
    for line in lines:
        m = re.fullmatch(r"([0-9a-f]{64})  (\S.*)", line)
        if not m:
            well_formed = False
            continue
        listed.append(m.group(2))
        p = os.path.join(tree, m.group(2))
        if os.path.isfile(p) and hashlib.sha256(data(p)).hexdigest() != m.group(1):
            ok(False, "SHA256SUMS: %s" % m.group(2), "hash differs")
    ok(well_formed, "SHA256SUMS lines are sha256sum's format")
    ok(sorted(listed) == sorted(got - {"SHA256SUMS"}) and len(listed) == len(set(listed)),
       "SHA256SUMS covers every file of the release once (all but itself)",
       "not listed: %s" % sorted(got - {"SHA256SUMS"} - set(listed)))

    same = ["README.md", "CHANGELOG.md", "LICENSE", "LICENSE-MIT", "LICENSE-APACHE", "include/oauthmail.h",
            "bindings/delphi/OAuthMail.pas", "bindings/delphi/README.md",
            "bindings/dotnet/OAuthMail.cs", "bindings/dotnet/README.md"]
    differ = [p for p in same if p in got and data(os.path.join(tree, p)) != data(os.path.join(repo, p))]
    ok(not differ, "header, bindings, README, licenses and changelog are the checkout's", str(differ))
    crlf = {"delphi/OAuthMail.pas": "bindings/delphi/OAuthMail.pas",
            "delphi/README.txt": "packaging/delphi/README.txt"}
    for f in ("OAuthMailDemo.dpr", "DemoMain.pas", "DemoMain.dfm", "settings.example.json"):
        crlf["delphi/demo/" + f] = "packaging/delphi/demo/" + f
    differ = [p for p, src in crlf.items() if p in got and
              data(os.path.join(tree, p)) != data(os.path.join(repo, src)).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")]
    ok(not differ, "the Delphi folder's text files are the checkout's, with CRLF line ends", str(differ))

    if {"x86/oauthmail.dll", "x64/oauthmail.dll", "nuget/" + nupkg_name} <= got:
        pkg = data(os.path.join(tree, "nuget", nupkg_name))
        ok(pkg == data(nupkg), "nuget/%s is the package written beside the zip" % nupkg_name)
        with zipfile.ZipFile(os.path.join(tree, "nuget", nupkg_name)) as zf:
            for arch, win, rid in (("x86", "Win32", "win-x86"), ("x64", "Win64", "win-x64")):
                dll = data(os.path.join(tree, arch, "oauthmail.dll"))
                ok(dll == data(os.path.join(tree, "delphi", win, "oauthmail.dll")) and
                   dll == zf.read("runtimes/%s/native/oauthmail.dll" % rid),
                   "%s/oauthmail.dll = delphi/%s/oauthmail.dll = the package's runtimes/%s" % (arch, win, rid))
        ok(data(os.path.join(tree, "x86", "oauthmail.dll")) != data(os.path.join(tree, "x64", "oauthmail.dll")),
           "the x86 and x64 DLLs are two different files")

    lic = data(os.path.join(tree, "LICENSE")).decode("utf-8")
    ok("LICENSE-MIT" in lic and "LICENSE-APACHE" in lic and "MIT OR Apache-2.0" in lic,
       "LICENSE points to LICENSE-MIT and LICENSE-APACHE (MIT OR Apache-2.0)")
    mit = data(os.path.join(tree, "LICENSE-MIT")).decode("utf-8")
    ok(mit.startswith("MIT License") and "Copyright (c) the oauthmail authors" in mit and
       "THE SOFTWARE IS PROVIDED \"AS IS\"" in mit, "LICENSE-MIT: the MIT text, copyright the oauthmail authors")
    apache = data(os.path.join(tree, "LICENSE-APACHE")).decode("utf-8")
    ok("Apache License" in apache and "Version 2.0, January 2004" in apache and "END OF TERMS AND CONDITIONS" in apache,
       "LICENSE-APACHE: the Apache License 2.0 text")
    changelog = data(os.path.join(tree, "CHANGELOG.md")).decode("utf-8")
    ok(re.search(r"^## %s\b" % re.escape(version), changelog, re.M) is not None,
       "CHANGELOG.md has an entry for %s" % version)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
