#!/usr/bin/env python3
"""Makes the lock-file fixtures of recipes/lockfiles_test.go.

  python3 recipes/testdata/lockfiles/make.py

writes, beside this file:

  index/     the small distributions the fixtures lock, made here with fixed
             bytes (a wheel or sdist of the same name and version is the
             same file on every run): ibdemo-core 1.0 (a wheel and an sdist;
             it depends on ibdemo-old where python_version < "3.10" and on
             ibdemo-arm where platform_machine == "aarch64"), ibdemo-old,
             ibdemo-arm, ibdemo-dev (1.0, wheels), and ibdemo-native 1.0,
             a wheel for each of manylinux x86_64 and aarch64 with a module
             that says which.
  poetry/    pyproject.toml and the poetry.lock Debian's poetry
             (python3-poetry, Poetry 1.x, lock-version 2.0) writes for it,
             locked against a PEP 503 index this script serves on
             127.0.0.1:38751 from index/ and hiredis 2.3.2's sdist
             (shared/real-sdists beside the repository).

uv.lock and pylock.toml fixtures are written by hand (see the tests).
"""
import gzip
import hashlib
import base64
import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX = os.path.join(HERE, "index")
REAL = os.path.join(HERE, "..", "..", "..", "..", "shared", "real-sdists")
PORT = 38751


def wheel(name, version, requires=(), tag="py3-none-any", files=None):
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info/" % (dist, version)
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    meta += "".join("Requires-Dist: %s\n" % r for r in requires)
    content = dict(files or {dist + "/__init__.py": "NAME = %r\n" % name})
    content[info + "METADATA"] = meta
    content[info + "WHEEL"] = "Wheel-Version: 1.0\nGenerator: imagebuild-test\nRoot-Is-Purelib: %s\nTag: %s\n" % (
        "true" if tag == "py3-none-any" else "false", tag)
    record = ""
    for path in sorted(content):
        data = content[path].encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (path, digest, len(data))
    content[info + "RECORD"] = record + info + "RECORD,,\n"
    out = os.path.join(INDEX, "%s-%s-%s.whl" % (dist, version, tag))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(content):
            zi = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            z.writestr(zi, content[path])


def sdist(name, version, requires=()):
    dist = name.replace("-", "_")
    top = "%s-%s" % (dist, version)
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    meta += "".join("Requires-Dist: %s\n" % r for r in requires)
    files = {
        "PKG-INFO": meta,
        "pyproject.toml": "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n"
                          "[project]\nname = %r\nversion = %r\ndependencies = [%s]\n" % (
                              name, version, ", ".join(repr(r) for r in requires)),
        dist + "/__init__.py": "NAME = %r\n" % name,
    }
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in sorted(files):
                data = files[path].encode()
                ti = tarfile.TarInfo(top + "/" + path)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
                tar.addfile(ti, io.BytesIO(data))
    with open(os.path.join(INDEX, top + ".tar.gz"), "wb") as f:
        f.write(buf.getvalue())


CORE_REQUIRES = ['ibdemo-old ; python_version < "3.10"', 'ibdemo-arm ; platform_machine == "aarch64"']


def make_index():
    shutil.rmtree(INDEX, ignore_errors=True)
    os.makedirs(INDEX)
    wheel("ibdemo-core", "1.0", CORE_REQUIRES)
    sdist("ibdemo-core", "1.0", CORE_REQUIRES)
    for name in ("ibdemo-old", "ibdemo-arm", "ibdemo-dev"):
        wheel(name, "1.0")
    for arch in ("x86_64", "aarch64"):
        wheel("ibdemo-native", "1.0", tag="py3-none-manylinux_2_17_" + arch,
              files={"ibdemo_native/__init__.py": "ARCH = %r\n" % arch})


def serve(dirs):
    files = {}
    for d, names in dirs:
        for n in names:
            files[n] = os.path.join(d, n)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/simple/"):
                project = self.path[len("/simple/"):].strip("/")
                body = "<html><body>\n"
                for n in sorted(files):
                    if project and not n.lower().replace("_", "-").startswith(project + "-"):
                        continue
                    with open(files[n], "rb") as f:
                        h = hashlib.sha256(f.read()).hexdigest()
                    body += '<a href="/files/%s#sha256=%s">%s</a>\n' % (n, h, n)
                body = (body + "</body></html>\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
            elif self.path.startswith("/files/") and self.path[len("/files/"):] in files:
                with open(files[self.path[len("/files/"):]], "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
            else:
                body = b"not found"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


PYPROJECT = """[tool.poetry]
name = "ibdemo-app"
version = "0.1.0"
description = "The app of imagebuild's lock-file fixtures."
authors = ["imagebuild <imagebuild@example.com>"]
packages = [{ include = "app" }]

[tool.poetry.dependencies]
python = "^3.9"
hiredis = "2.3.2"
ibdemo-core = "1.0"

[tool.poetry.group.dev.dependencies]
ibdemo-dev = "1.0"

[[tool.poetry.source]]
name = "fixture"
url = "http://127.0.0.1:%d/simple/"
default = true

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
""" % PORT


def make_poetry():
    out = os.path.join(HERE, "poetry")
    os.makedirs(out, exist_ok=True)
    srv = serve([(INDEX, os.listdir(INDEX)), (REAL, ["hiredis-2.3.2.tar.gz"])])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "pyproject.toml"), "w") as f:
                f.write(PYPROJECT)
            env = dict(os.environ, POETRY_CACHE_DIR=os.path.join(tmp, "cache"), HOME=tmp)
            subprocess.run(["poetry", "lock", "--no-interaction"], cwd=tmp, env=env, check=True)
            for name in ("pyproject.toml", "poetry.lock"):
                shutil.copy(os.path.join(tmp, name), os.path.join(out, name))
    finally:
        srv.shutdown()


if __name__ == "__main__":
    make_index()
    if "--index-only" not in sys.argv:
        make_poetry()
