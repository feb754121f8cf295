#!/usr/bin/env python3
"""openapi-check.py - holds real answers of imaginator-fcgi to docs/openapi.yaml.

Debian's python3-yaml and python3-jsonschema only (Draft 2020-12, as
OpenAPI 3.1 schemas are). Subcommands:

  openapi-check.py DOC answers CASES
      CASES: one answer per line, tab-separated:
        description, method, path, expected status, headers file, body file
      (the headers as curl -D writes them, the body as received). For each,
      prints "ok - DESC" or "not ok - DESC: why": the status is the one
      expected and documented for the operation (an undocumented path
      answers with components/responses/NotFound, an undocumented method
      with MethodNotAllowed), the headers the service sends are documented
      on that response and match their schemas, the required ones are
      there, the Content-Type is one of the response's media types, and a
      JSON body validates against its schema (an error's status and code
      agree with ErrorCode's x-statuses). Members of the answer's top
      object must be documented even where the schema lets others through.
  openapi-check.py DOC routes ROUTES_C
      every path of the route table in fcgi/routes.c is in paths.
  openapi-check.py DOC codes SRCDIR
      every stable error code in SRCDIR/{core,plugins,fcgi}/**/*.c is in
      ErrorCode's enum with its status, and the enum holds no other code.
  openapi-check.py DOC version FCGI_H
      info.version, the Imaginator-Api-Version header's const and the
      api_version consts equal IMA_FCGI_API_VERSION.
Exit status: 0 when everything holds, 1 otherwise.
"""

import json
import os
import re
import sys

import jsonschema
import yaml

# Headers the service itself sends (web servers add Date, Server, ...).
SERVICE_HEADERS = {"x-request-id", "imaginator-api-version", "x-cache", "retry-after",
                   "www-authenticate", "allow"}
METHODS = ("get", "head", "post", "put", "delete", "patch", "options")


def load(doc_path):
    with open(doc_path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(doc, obj):
    """Follows local $refs (#/a/b) until obj is no reference."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj and seen < 20:
        ref = obj["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("only local references are used here: " + ref)
        obj = doc
        for part in ref[2:].split("/"):
            obj = obj[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return obj


def schema_errors(doc, schema, instance):
    """Validates instance against schema, its $refs resolved in doc."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc.get("components", {}), "x-target": schema,
            "$ref": "#/x-target"}
    validator = jsonschema.Draft202012Validator(root)
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


def read_headers(path):
    """curl -D output: the status and {lower-case name: [values]} of the
    last response (after any 100 Continue)."""
    status, headers = None, {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("HTTP/"):
                status, headers = int(line.split()[1]), {}
            elif ":" in line:
                name, value = line.split(":", 1)
                headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers


def media(value):
    return value.split(";")[0].strip().lower()


def check_answer(doc, method, path, expected, headers_file, body_file):
    """Returns the list of faults of one answer (empty: it holds)."""
    faults = []
    status, headers = read_headers(headers_file)
    with open(body_file, "rb") as f:
        body = f.read()
    if status is None:
        return ["no status line in " + headers_file]
    if expected and status != int(expected):
        faults.append("status %d, the test expected %s" % (status, expected))
    item = doc["paths"].get(path)
    if item is None:
        if status != 404:
            return faults + ["%s is not in paths, yet answered %d" % (path, status)]
        response = resolve(doc, doc["components"]["responses"]["NotFound"])
    else:
        op = item.get(method.lower())
        if op is None:
            if status != 405:
                return faults + ["%s %s is not documented, yet answered %d" % (method, path, status)]
            response = resolve(doc, doc["components"]["responses"]["MethodNotAllowed"])
        else:
            responses = op.get("responses", {})
            response = responses.get(str(status)) or responses.get("default")
            if response is None:
                return faults + ["status %d is not documented for %s %s" % (status, method, path)]
            response = resolve(doc, response)
    documented = {k.lower(): resolve(doc, v) for k, v in response.get("headers", {}).items()}
    for name, spec in documented.items():
        if spec.get("required") and name not in headers:
            faults.append("required header %s missing" % name)
    for name, values in headers.items():
        if name not in SERVICE_HEADERS:
            continue
        if name not in documented:
            faults.append("header %s is not documented on this response" % name)
            continue
        for v in values:
            for e in schema_errors(doc, documented[name].get("schema", {}), v):
                faults.append("header %s: %r: %s" % (name, v, e.message))
    content = response.get("content")
    if method.upper() == "HEAD" or not content:
        if body:
            faults.append("a body of %d bytes where none is documented" % len(body))
        return faults
    ctype = headers.get("content-type", [""])[0]
    types = {media(k): v for k, v in content.items()}
    if media(ctype) not in types:
        return faults + ["Content-Type %r is not one of %s" % (ctype, sorted(types))]
    if media(ctype) != "application/json":
        return faults  # msgpack and text: the media type is all checked here
    try:
        instance = json.loads(body)
    except ValueError as e:
        return faults + ["the body is not JSON: %s" % e]
    schema = types[media(ctype)].get("schema", {})
    for e in schema_errors(doc, schema, instance)[:5]:
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        faults.append("%s: %s" % (where, e.message[:300]))
    top = resolve(doc, schema)
    if isinstance(instance, dict) and isinstance(top, dict) and "properties" in top:
        extra = sorted(set(instance) - set(top["properties"]))
        if extra:
            faults.append("members not in the document: %s" % ", ".join(extra))
    if isinstance(instance, dict) and isinstance(instance.get("error"), dict):
        err = instance["error"]
        codes = doc["components"]["schemas"]["ErrorCode"].get("x-statuses", {})
        if err.get("status") != status:
            faults.append("error.status %r on an HTTP %d" % (err.get("status"), status))
        if err.get("code") in codes and status not in codes[err["code"]]:
            faults.append("code %s is documented with %s, answered %d" %
                          (err["code"], codes[err["code"]], status))
    return faults


def cmd_answers(doc, cases):
    bad = 0
    with open(cases, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            desc, method, path, expected, hfile, bfile = line.split("\t")
            try:
                faults = check_answer(doc, method, path, expected, hfile, bfile)
            except (OSError, ValueError, KeyError) as e:
                faults = ["cannot check: %s" % e]
            if faults:
                bad += 1
                print("not ok - %s: %s" % (desc, "; ".join(faults)))
            else:
                print("ok - %s" % desc)
    return bad == 0


def cmd_routes(doc, routes_c):
    with open(routes_c, encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"table\[\]\s*=\s*\{(.*?)\};", text, re.S)
    paths = re.findall(r'\{\s*"(/[^"]*)"\s*,\s*IMA_ROUTE_', table.group(1)) if table else []
    if not paths:
        print("not ok - no route table found in %s" % routes_c)
        return False
    missing = [p for p in paths if p not in doc["paths"]]
    extra = [p for p in doc["paths"] if p not in paths]
    for p in missing:
        print("not ok - route %s of fcgi/routes.c is not in the document" % p)
    for p in extra:
        print("not ok - path %s of the document is no route of fcgi/routes.c" % p)
    if not missing and not extra:
        print("ok - the %d routes of fcgi/routes.c are the document's paths" % len(paths))
    return not missing and not extra


# ima_error_set(err, 422, "code", ...), ima_req_fail(req, 422, "code", ...),
# fcgi_error(resp, 404, "code", ...) and the auth stages' refusal helpers,
# whose code is a literal argument after the status.
CALL = re.compile(r'\b(?:ima_error_set|ima_req_fail|fcgi_error)\(\s*[^,()]+,\s*(\d{3}|[A-Za-z_>.-]+)'
                  r'\s*,\s*"([a-z_0-9]+)"')
# The auth stages' refusal helpers: the code is a literal argument.
REFUSE = (
    (re.compile(r'\bauth_refuse\(\s*req\s*,\s*(?:NULL|"[^"]*")\s*,\s*[^,]+,\s*"([a-z_0-9]+)"'), 401),
    (re.compile(r'\bapikey_refuse\(\s*req\s*,\s*"[^"]*"\s*,\s*"([a-z_0-9]+)"'), 401),
)


def source_codes(srcdir):
    codes = {}
    for top in ("core", "plugins", "fcgi"):
        for dirpath, _, files in os.walk(os.path.join(srcdir, top)):
            for name in files:
                if not name.endswith(".c"):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    text = f.read()
                for status, code in CALL.findall(text):
                    codes.setdefault(code, set())
                    if status.isdigit():
                        codes[code].add(int(status))
                for pattern, status in REFUSE:
                    for code in pattern.findall(text):
                        codes.setdefault(code, set()).add(status)
    return codes


def cmd_codes(doc, srcdir):
    schema = doc["components"]["schemas"]["ErrorCode"]
    enum = set(schema["enum"])
    statuses = schema.get("x-statuses", {})
    found = source_codes(srcdir)
    ok = True
    for code in sorted(found):
        if code not in enum:
            print("not ok - error code %s (status %s) of the code is not in ErrorCode" %
                  (code, sorted(found[code]) or "?"))
            ok = False
            continue
        missing = found[code] - set(statuses.get(code, []))
        if missing:
            print("not ok - error code %s comes with %s, documented with %s" %
                  (code, sorted(missing), statuses.get(code)))
            ok = False
    for code in sorted(enum - set(found)):
        print("not ok - ErrorCode %s is in no source file" % code)
        ok = False
    for code in sorted(enum - set(statuses)):
        print("not ok - ErrorCode %s has no x-statuses entry" % code)
        ok = False
    if ok:
        print("ok - the %d error codes of core/, plugins/ and fcgi/ are ErrorCode's enum, with their statuses" %
              len(found))
    return ok


def cmd_version(doc, fcgi_h):
    with open(fcgi_h, encoding="utf-8") as f:
        m = re.search(r'#define IMA_FCGI_API_VERSION "([^"]+)"', f.read())
    if not m:
        print("not ok - no IMA_FCGI_API_VERSION in %s" % fcgi_h)
        return False
    want = m.group(1)
    got = {"info.version": str(doc["info"]["version"]),
           "Imaginator-Api-Version": doc["components"]["headers"]["Imaginator-Api-Version"]["schema"]["const"]}
    for name in ("Health", "HealthLive", "HealthReady"):
        got[name + ".api_version"] = doc["components"]["schemas"][name]["properties"]["api_version"]["const"]
    bad = {k: v for k, v in got.items() if v != want}
    if bad:
        print("not ok - IMA_FCGI_API_VERSION is %s; the document says %s" % (want, bad))
        return False
    print("ok - info.version and the version consts are IMA_FCGI_API_VERSION (%s)" % want)
    return True


def main(argv):
    if len(argv) != 4 or argv[2] not in ("answers", "routes", "codes", "version"):
        sys.stderr.write(__doc__)
        return 2
    doc = load(argv[1])
    return 0 if {"answers": cmd_answers, "routes": cmd_routes, "codes": cmd_codes,
                 "version": cmd_version}[argv[2]](doc, argv[3]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
