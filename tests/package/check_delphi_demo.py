#!/usr/bin/env python3
"""Checks the Delphi demo's sources against each other, as the Delphi IDE and the VCL's form
streaming would at design and run time: check_delphi_demo.py DELPHI_DIR

- DemoMain.dfm is a text form whose root is the form class of DemoMain.pas;
- every component of the .dfm is a published field of that class with the same type, and
  every published field is in the .dfm (the VCL raises on a component with no field);
- every event of the .dfm names a published method of the form, implemented in the unit, with
  the signature the event type needs (TNotifyEvent, TCloseQueryEvent);
- the unit links its form ({$R *.dfm}); OAuthMailDemo.dpr names the unit with its form, the
  OAuthMail unit at ..\\OAuthMail.pas (which exists), and creates the form;
- every text file uses CRLF line ends (what the zip ships for Windows).
Prints "ok - ..." / "not ok - ..." lines; exit status 1 when one failed.
"""

import os
import re
import sys

failed = 0
SIGNATURES = {
    "OnClick": r"\(\s*Sender\s*:\s*TObject\s*\)",
    "OnCreate": r"\(\s*Sender\s*:\s*TObject\s*\)",
    "OnDestroy": r"\(\s*Sender\s*:\s*TObject\s*\)",
    "OnCloseQuery": r"\(\s*Sender\s*:\s*TObject\s*;\s*var\s+CanClose\s*:\s*Boolean\s*\)",
}


def ok(cond, what, why=""):
    global failed
    if cond:
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what + (" (%s)" % why if why else ""))


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, raw.decode("utf-8")


def main():
    root = sys.argv[1]
    demo = os.path.join(root, "demo")
    files = {n: os.path.join(demo, n) for n in ("OAuthMailDemo.dpr", "DemoMain.pas", "DemoMain.dfm", "settings.example.json")}
    files["README.txt"] = os.path.join(root, "README.txt")
    files["OAuthMail.pas"] = os.path.join(root, "OAuthMail.pas")
    texts = {}
    for name, path in files.items():
        if not os.path.isfile(path):
            ok(False, "%s exists" % name, path)
            continue
        raw, text = read(path)
        texts[name] = text
        bare_lf = len(re.findall(rb"(?<!\r)\n", raw))
        ok(bare_lf == 0 and raw.endswith(b"\r\n"), "%s has CRLF line ends" % name, "%d bare LF" % bare_lf)
    if failed:
        return 1

    dfm = texts["DemoMain.dfm"].replace("\r\n", "\n")
    pas = texts["DemoMain.pas"].replace("\r\n", "\n")
    dpr = texts["OAuthMailDemo.dpr"].replace("\r\n", "\n")

    # --- the form file: objects and events, nesting kept by the object/end pairs
    objects, events, stack = [], [], []
    for line in dfm.split("\n"):
        s = line.strip()
        m = re.fullmatch(r"(object|inherited|inline)\s+(\w+)\s*:\s*(\w+)", s)
        if m:
            stack.append(m.group(2))
            objects.append((m.group(2), m.group(3), len(stack)))
            continue
        if s == "end":
            ok_pop = bool(stack)
            if ok_pop:
                stack.pop()
            else:
                ok(False, "DemoMain.dfm: object/end balanced", "end without object")
            continue
        m = re.fullmatch(r"(On\w+)\s*=\s*(\w+)", s)
        if m:
            events.append((stack[-1] if stack else "?", m.group(1), m.group(2)))
    ok(not stack, "DemoMain.dfm: object/end balanced", str(stack))
    ok(bool(objects) and objects[0][2] == 1 and all(o[2] == 2 for o in objects[1:]),
       "DemoMain.dfm: one root object, the controls directly on it")
    form_name, form_class = objects[0][0], objects[0][1]

    # --- the unit: the form class's published part (before the first visibility keyword)
    m = re.search(r"\b%s\s*=\s*class\s*\(\s*TForm\s*\)(.*?)\n\s*(private|protected|public|published|end;)" % form_class,
                  pas, re.S | re.I)
    ok(m is not None, "DemoMain.pas declares %s = class(TForm)" % form_class)
    if m is None:
        return 1
    published = m.group(1)
    fields = dict((n, t) for n, t in re.findall(r"^\s*(\w+)\s*:\s*(\w+)\s*;", published, re.M))
    methods = dict((n, sig) for n, sig in re.findall(r"^\s*procedure\s+(\w+)\s*(\([^)]*\))\s*;", published, re.M))
    ok(re.search(r"^\s*%s\s*:\s*%s\s*;" % (form_name, form_class), pas, re.M | re.I) is not None,
       "DemoMain.pas has the variable %s: %s" % (form_name, form_class))
    ok(re.search(r"^\s*\{\$R \*\.dfm\}", pas, re.M) is not None, "DemoMain.pas links its form ({$R *.dfm})")
    for name, cls, _ in objects[1:]:
        ok(fields.get(name) == cls, "component %s: %s is a published field of %s" % (name, cls, form_class),
           "field: %s" % fields.get(name))
    dfm_names = {o[0] for o in objects[1:]}
    extra = sorted(set(fields) - dfm_names)
    ok(not extra, "every published field of %s is in the .dfm" % form_class, str(extra))
    for owner, event, handler in events:
        sig = methods.get(handler)
        want = SIGNATURES.get(event)
        ok(sig is not None, "%s.%s = %s is a published method" % (owner, event, handler))
        ok(want is not None and sig is not None and re.fullmatch(want, sig) is not None,
           "  %s has the %s signature" % (handler, event), str(sig))
        ok(re.search(r"^procedure\s+%s\.%s\s*\(" % (form_class, handler), pas, re.M | re.I) is not None,
           "  %s.%s is implemented" % (form_class, handler))

    # --- the project
    ok(re.search(r"\bDemoMain\s+in\s+'DemoMain\.pas'\s*\{%s\}" % form_name, dpr) is not None,
       "OAuthMailDemo.dpr names DemoMain.pas with its form {%s}" % form_name)
    ok(re.search(r"\bOAuthMail\s+in\s+'\.\.\\OAuthMail\.pas'", dpr) is not None and os.path.isfile(files["OAuthMail.pas"]),
       "OAuthMailDemo.dpr takes OAuthMail from ..\\OAuthMail.pas, which is there")
    ok(re.search(r"Application\.CreateForm\(\s*%s\s*,\s*%s\s*\)" % (form_class, form_name), dpr) is not None,
       "OAuthMailDemo.dpr creates the form")
    ok(re.search(r"^\s*program\s+OAuthMailDemo\s*;", dpr, re.M) is not None, "the program's name is its file's")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
