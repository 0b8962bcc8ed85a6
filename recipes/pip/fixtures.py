"""What the tests of imagebuild-pip.py share: the script loaded as a module,
small wheels, source trees and sdists made on the spot, a PEP 503 index on
127.0.0.1, pip kept to that index, and a venv without pip.

The tests run with the python3 that has pip (Debian's: apt-get install
python3-pip python3-setuptools); recipes/pip_script_test.go
runs them in go test:

    python3 -m unittest discover -s recipes/pip -t recipes/pip
"""

import base64
import contextlib
import hashlib
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest
import zipfile

sys.dont_write_bytecode = True

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagebuild-pip.py")


def load_script():
    spec = importlib.util.spec_from_file_location("imagebuild_pip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The script, as the tests call it.
pip_script = load_script()

# Every zip entry the fixtures write has this time, so equal content gives
# equal bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name in sorted(files):
            z.writestr(zipfile.ZipInfo(name, ZIP_TIME), files[name])


def wheel_files(name, version, modules, requires, tag="py3-none-any"):
    """The files of a wheel of name and version holding modules (path to
    text), whose METADATA names requires."""
    dist = "%s-%s" % (name.replace("-", "_"), version)
    meta = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    meta += ["Requires-Dist: " + r for r in requires]
    files = dict(modules)
    files[dist + ".dist-info/METADATA"] = "\n".join(meta) + "\n"
    files[dist + ".dist-info/WHEEL"] = "Wheel-Version: 1.0\nGenerator: imagebuild-tests\nRoot-Is-Purelib: true\nTag: %s\n" % tag
    record = []
    for path in sorted(files):
        data = files[path].encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append(dist + ".dist-info/RECORD,,")
    files[dist + ".dist-info/RECORD"] = "\n".join(record) + "\n"
    return files


def wheel(folder, name, version, requires=(), modules=None):
    """Writes a pure-Python wheel of name and version into folder and
    returns its path. Its module (name with _) holds VERSION."""
    module = name.replace("-", "_").lower()
    if modules is None:
        modules = {module + "/__init__.py": "VERSION = %r\n" % version}
    path = os.path.join(folder, "%s-%s-py3-none-any.whl" % (name.replace("-", "_"), version))
    write_zip(path, wheel_files(name, version, modules, requires))
    return path


# BACKEND is the PEP 517 backend of every source tree the tests make (in the
# tree, backend-path ["."]): it reads backend.json, beside it, and builds a
# wheel of one module that records the name of the first temporary folder
# it makes (see seed_temp_names).
BACKEND = r'''
import base64, hashlib, json, os, tempfile, zipfile

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend.json")) as f:
    CONFIG = json.load(f)
DIST = "%s-%s" % (CONFIG["name"].replace("-", "_"), CONFIG["version"])


def metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + CONFIG["name"], "Version: " + CONFIG["version"]]
    return "\n".join(lines + ["Requires-Dist: " + r for r in CONFIG["depends"]]) + "\n"


if CONFIG["dynamic"] is not None:
    def get_requires_for_build_wheel(config_settings=None):
        return CONFIG["dynamic"]


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, DIST + ".dist-info")
    os.makedirs(d)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(metadata())
    return DIST + ".dist-info"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    for module in CONFIG["imports"]:
        __import__(module)  # a build requirement, installed in the build environment
    files = {
        CONFIG["name"].replace("-", "_") + "/__init__.py": "TEMP = %r\n" % os.path.basename(tempfile.mkdtemp()),
        DIST + ".dist-info/METADATA": metadata(),
        DIST + ".dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path in sorted(files):
        data = files[path].encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    files[DIST + ".dist-info/RECORD"] = "\n".join(record + [DIST + ".dist-info/RECORD,,"]) + "\n"
    name = DIST + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path in sorted(files):
            z.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), files[path])
    return name
'''


def tree(folder, name, version, requires=(), dynamic=None, imports=(), depends=(), build_system=True):
    """Writes the source tree of a project into folder and returns folder:
    pyproject.toml's build-system requires requires (and names BACKEND; with
    build_system False there is no build-system table), the backend's
    get_requires_for_build_wheel returns dynamic (None: the backend has no
    such hook), its build_wheel imports each of imports first, and the
    wheel's metadata names depends."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "pyproject.toml"), "w") as f:
        f.write('[project]\nname = "%s"\n' % name)
        if build_system:
            f.write('\n[build-system]\nrequires = %s\nbuild-backend = "backend"\nbackend-path = ["."]\n'
                    % json.dumps(list(requires)))
    with open(os.path.join(folder, "backend.py"), "w") as f:
        f.write(BACKEND)
    with open(os.path.join(folder, "backend.json"), "w") as f:
        json.dump({"name": name, "version": version, "dynamic": dynamic, "imports": list(imports),
                   "depends": list(depends)}, f)
    return folder


def sdist(folder, name, version, **kw):
    """Writes the sdist of a tree (see tree) into folder and returns its path."""
    top = "%s-%s" % (name.replace("-", "_"), version)
    with tempfile.TemporaryDirectory() as tmp:
        src = tree(os.path.join(tmp, top), name, version, **kw)
        with open(os.path.join(src, "PKG-INFO"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version))
        path = os.path.join(folder, top + ".tar.gz")
        with tarfile.open(path, "w:gz") as t:
            t.add(src, top)
    return path


class Index:
    """A PEP 503 index on 127.0.0.1 serving the files in a folder of its
    own: url lists each file with its sha256, nohash_url without one. Every
    project page lists every file (pip takes those of the project it asks
    for)."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="imagebuild-pip-index-")
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/files/"):
                    path = os.path.join(index.folder, os.path.basename(self.path))
                    if not os.path.isfile(path):
                        self.send_error(404)
                        return
                    with open(path, "rb") as f:
                        body = f.read()
                    ctype = "application/octet-stream"
                elif self.path.startswith(("/simple/", "/nohash/simple/")):
                    hashed = not self.path.startswith("/nohash/")
                    links = []
                    for name in sorted(os.listdir(index.folder)):
                        frag = "#sha256=" + sha256(os.path.join(index.folder, name)) if hashed else ""
                        links.append('<a href="/files/%s%s">%s</a>' % (name, frag, name))
                    body = ("<html><body>\n%s\n</body></html>\n" % "\n".join(links)).encode()
                    ctype = "text/html"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address
        self.url = "http://%s:%d/simple/" % (host, port)
        self.nohash_url = "http://%s:%d/nohash/simple/" % (host, port)
        self.file_url = "http://%s:%d/files/" % (host, port)

    def add(self, path):
        """Serves the file at path; returns its sha256."""
        shutil.copy(path, self.folder)
        return sha256(path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.folder)


def isolate_pip(index_url):
    """Has pip (here and in what the script starts) read no configuration
    but index_url as its index, with a cache of its own, until the module's
    tests end."""
    saved = dict(os.environ)
    cache = tempfile.mkdtemp(prefix="imagebuild-pip-cache-")
    for key in list(os.environ):
        if key.startswith("PIP_"):
            del os.environ[key]
    os.environ.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index_url, PIP_CACHE_DIR=cache,
                      PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")

    def restore():
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(cache, ignore_errors=True)
    unittest.addModuleCleanup(restore)


def venv(folder):
    """Makes a venv without pip at folder, as the builder stage's /opt/venv,
    and returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    return os.path.join(folder, "bin", "python")


def site_packages(venv_folder):
    lib = os.path.join(venv_folder, "lib")
    return os.path.join(lib, os.listdir(lib)[0], "site-packages")


class Output:
    text = ""


@contextlib.contextmanager
def captured():
    """Gathers what this process and the processes it starts write to
    stdout and stderr; the text is the yielded value's text once the block
    ends."""
    out = Output()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            f.seek(0)
            out.text = f.read().decode("utf-8", "replace")


class ScriptTest(unittest.TestCase):
    """A test whose script writes under a ROOT of its own (and its venv,
    VENV, where it makes one) in a temporary folder, self.tmp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imagebuild-pip-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        root = os.path.join(self.tmp, "root")
        for name, value in [("ROOT", root), ("WHEELS", os.path.join(root, "out")),
                            ("VENV", os.path.join(self.tmp, "venv")), ("REPORT", os.path.join(self.tmp, "report.json"))]:
            old = getattr(pip_script, name)
            setattr(pip_script, name, value)
            self.addCleanup(setattr, pip_script, name, old)
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)
