"""imagebuild's pip steps: resolve a requirements file to exact
distributions, and fetch or build one distribution's wheel and install it,
so that a build of the same inputs gives the same bytes on any machine.

    python imagebuild-pip.py resolve REQUIREMENTS OUT PYTHON
    python imagebuild-pip.py install REQUIREMENT NAME PYTHON [RECORD]
    python imagebuild-pip.py cross REQUIREMENT NAME PYTHON RECORD
    python imagebuild-pip.py project SRC PYTHON [OPTIONS]
    python imagebuild-pip.py hook NAME OUT [WHEEL_DIR]
    python imagebuild-pip.py install-wheel PIP_DIR WHEEL NAME VENV
    python imagebuild-pip.py lock REQUIREMENT KEY OUT
    python imagebuild-pip.py lock-project SRC KEY OUT [OPTIONS]
    python imagebuild-pip.py wheelhouse DIR [OPTIONS]

The interpreter that runs this file has pip; PYTHON is the one of the
environment pip installs into (the venv the image gets), where pip runs
as its own --python option runs it (see pip_for) without starting twice.
pip's index comes from its own configuration (the pipconf build secret,
mounted as pip's config file), never from here.

resolve writes OUT: the distributions pip would install for REQUIREMENTS,
as JSON [{"name", "version", "sha256"}] sorted by name, with no index URL
(a URL may hold a token, and OUT stays in the build cache). It leaves out
the local projects REQUIREMENTS names (./PATH; it runs in the file's
folder): each has a step of its own; their dependencies are resolved.

install (with RECORD, ahead of the resolve step: see install's doc)
downloads the one distribution REQUIREMENT names (a requirements
file's text: name==version with its hashes, checked, and the file's global
options): a wheel is taken as it is; a source distribution is built at
fixed paths (see build), so that the paths a compiler records (debug info,
__FILE__) are the same in every build. That wheel alone is installed by
pip's wheel installer, as pip install installs it by name from a folder
(no direct_url.json naming the builder's path: see install_wheel), its byte
code compiled with hash-based invalidation (.pyc files then do not depend
on when the sources were unpacked), and what the step made on the way
removed. A requirement whose environment markers exclude this platform
installs nothing. It writes REPORT, which the build reads: the file it
fetched, the wheel it installed, and whether it compiled that wheel from
source.

cross is install for another platform than this interpreter's (CROSS,
CROSS_MACHINE; see cross_target), with nothing of that platform run:
the file is chosen by that platform's tags and markers, an sdist compiled
by the cross compiler against that platform's Python (its sysconfigdata
and headers, which the builder stage holds), the wheel checked to hold
that platform's machine code, and installed by this Python (unpacked, its
RECORD and scripts written, byte code compiled: the same files for the
same Python minor). It writes RECORD, {"built": true}, or why it could not
build ({"error"}), and does not fail then: the build takes the
distribution's step under emulation. A refusal (a file whose hash the
requirement does not give, ...) fails it as it fails install.

project builds the wheel of the local project in the folder SRC (read
only) at the same fixed paths as an sdist, and installs it as install does,
by the name its file gives. OPTIONS are the requirements file's global
options, one a line.

The build requirements of an sdist or a project (pyproject.toml's
build-system, then the backend's get_requires_for_build_wheel) are
installed with the requirements file's global options, as pip's own
isolated builds take them: from the file's index, not only pip's
configured one. They are not hashed: a step that installs any says so in
one line, UNHASHED_BUILD_REQUIREMENTS. Unless imagebuild.lock records them:
then the step's environment holds them (LOCKED, LOCKED_FILE; see
build_tree), and exactly those files are installed, hash-checked, from the
index or from the builder image's wheelhouse (WHEELHOUSE), nothing
resolved.

lock and lock-project are the steps of `imagebuild lock`: each fetches one
distribution (as install does) or reads one project, and writes to OUT, as
JSON {"key", "file", "requires"}, KEY (the lock's name for it), the file fetched and, for an sdist or a project,
the build requirements isolation resolves for it (as build_tree installs
them), each {"name", "version", "file", "sha256"}; nothing is compiled.
wheelhouse downloads the files LOCKED names, hash-checked, into DIR: the
builder image's wheelhouse.

hook is not a step of its own: install and project run it, with the
build environment's Python, in the source tree they build. It calls the
tree's PEP 517 backend's hook NAME (get_requires_for_build_wheel, or
build_wheel into WHEEL_DIR) and writes its result to OUT as JSON.
install-wheel is not a step either: where the venv's Python is not the
one that runs this file, install, cross and project run it under the
venv's Python, with this file's pip (PIP_DIR), to install WHEEL (see
install_wheel).

The script's own refusals (a direct reference, a requirement without its
hash, ...) end it through refuse, never as a reason to fetch another way.
Where it relies on pip's or Python's internals, each use is in one
function that says so (pip_for, pip_finder, seed_temp_names,
compile_side_by_side, install_wheel_under, install_into, venv_scheme), and test_private_api.py beside this file checks
each against the installed pip and Python.
"""

import contextlib
import hashlib
import importlib
import glob
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile

# Everything a build makes is under ROOT, at the same paths every time.
ROOT = "/tmp/imagebuild-pip"

# Tools that honour it date what they make by it (the wheel's zip entries,
# __DATE__): a constant, so that a build step's result and cache key do not
# depend on the image's date. 1980-01-01, the earliest a zip file holds.
SOURCE_DATE_EPOCH = "315532800"


# A line a step prints that starts with WARNING is a warning the build
# shows once, at its end, however many steps print it.
WARNING = "imagebuild: warning: "

# The warning of a step that installs build requirements: the same text in
# every step, so that the build shows it once.
UNHASHED_BUILD_REQUIREMENTS = (WARNING + "sdists are compiled with build requirements installed unhashed from the "
                               "index at build time (setuptools, wheel, Cython, ...): their versions float")

# The environment variables of a step that follows imagebuild.lock: LOCKED
# holds, as JSON [{"name", "version", "file", "sha256"}], the build
# requirements the lock records for the step's distribution (none for a
# wheel); LOCKED_FILE the distribution's file the lock was made with.
# WHEELHOUSE, in a builder image, is the folder that holds every locked
# build requirement: no index is read for them.
LOCKED = "IMAGEBUILD_BUILD_REQUIREMENTS"
LOCKED_FILE = "IMAGEBUILD_LOCKED_FILE"
WHEELHOUSE = "IMAGEBUILD_WHEELHOUSE"

# The report of a distribution's step (see write_report), read by the
# build once the image is built; outside ROOT and the venv, so it stays
# out of the image.
REPORT = "/tmp/imagebuild-report.json"

# Where a step puts the wheel it installs.
WHEELS = os.path.join(ROOT, "out")

# The venv the image gets.
VENV = "/opt/venv"

# The environment variables of a step that builds for another platform
# (see cross_target): the GNU triplet of its machine and libc (the cross
# compiler's prefix, aarch64-linux-gnu), and its machine as wheel tags and
# markers name it (aarch64).
CROSS = "IMAGEBUILD_CROSS"
CROSS_MACHINE = "IMAGEBUILD_CROSS_MACHINE"

# ELF's e_machine of each machine a step builds for.
ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def run(cmd, **kw):
    sys.stdout.flush()
    subprocess.run(cmd, check=True, **kw)


class Refused(SystemExit):
    """The script's own deliberate exit, with a message for the build's
    log: a step that refuses fails with it (exit 1), never falls back to
    another way of fetching (see fetch)."""


# A refusal's line: the build names it as the step's reason for failing.
REFUSAL = "imagebuild: error: "


def refuse(message):
    raise Refused(REFUSAL + message)


def pip_for(python):
    """The command that runs this interpreter's pip under python, as pip's
    --python option does, but without starting pip first to start it
    again.

    PRIVATE API: pip/__pip-runner__.py, the script --python runs (pip 22.3
    and later), run as a file under another interpreter; it imports pip from
    the folder it is in and installs into that interpreter's environment.
    test_private_api.py checks that it still does."""
    import pip
    return [python, os.path.join(os.path.dirname(pip.__file__), "__pip-runner__.py")]


PIP = [sys.executable, "-m", "pip"]


def resolve(requirements, out, python):
    """Writes to out what pip would install for the requirements file at
    requirements (an absolute path, or one from the current folder, the
    file's), as locked makes it of pip's report."""
    report = os.path.join(ROOT, "report.json")
    os.makedirs(ROOT, exist_ok=True)
    # The requirements file's folder holds the local projects it names,
    # mounted read-only; pip prepares a project's metadata in its tree, so
    # it runs in a copy.
    here, work = os.getcwd(), os.path.join(ROOT, "resolve")
    requirements = os.path.join(work, os.path.relpath(os.path.abspath(requirements), here))
    shutil.copytree(here, work, symlinks=True)
    os.chdir(work)
    run([*pip_for(python), "install", "--dry-run", "--ignore-installed", "--quiet", "--disable-pip-version-check",
         "--no-input", "--report", report, "--requirement", requirements])
    with open(report) as f:
        dists = locked(json.load(f))
    with open(out, "w") as f:
        json.dump(dists, f, indent=1)
        f.write("\n")
    os.remove(report)


def locked(report):
    """The distributions of pip's installation report (pip install --report)
    as resolve writes them: [{"name", "version", "sha256"}] sorted by name,
    without the local projects; a direct reference, or a file without a
    sha256, is refused."""
    dists = [{k: d[k] for k in ("name", "version", "sha256")} for d in reported(report)]
    dists.sort(key=lambda d: d["name"].lower())
    return dists


def reported(report):
    """The distributions of pip's installation report, as locked reads
    them, each with its file's name too: [{"name", "version", "file",
    "sha256"}], in the report's order."""
    dists = []
    for item in report["install"]:
        info = item.get("download_info", {})
        if item.get("is_direct") and "dir_info" in info and info.get("url", "").startswith("file://"):
            continue  # a local project: built from the context in a step of its own
        if item.get("is_direct") or "archive_info" not in info:
            refuse("%s is a direct reference (%s), not a distribution from the index; "
                   "imagebuild builds what the index serves: publish it there"
                   % (item["metadata"]["name"], "a path or URL"))
        archive = info["archive_info"]
        sha256 = archive.get("hashes", {}).get("sha256")
        if not sha256 and archive.get("hash", "").startswith("sha256="):
            sha256 = archive["hash"][len("sha256="):]
        if not sha256:
            refuse("the index gives no sha256 for %s" % item["metadata"]["name"])
        dists.append({"name": item["metadata"]["name"], "version": item["metadata"]["version"],
                      "file": info["url"].split("#")[0].rsplit("/", 1)[-1], "sha256": sha256})
    return dists


def build_system(src):
    path = os.path.join(src, "pyproject.toml")
    if not os.path.exists(path):
        return {}
    try:
        import tomllib
    except ImportError:  # Python before 3.11
        from pip._vendor import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f).get("build-system", {})


def hook(name, out, *args):
    """Runs a PEP 517 hook of the source tree in the current directory, in
    the build environment, and writes its result to out as JSON."""
    cfg = build_system(".")
    for p in reversed(cfg.get("backend-path", [])):
        sys.path.insert(0, os.path.abspath(p))
    mod, _, obj = cfg.get("build-backend", "setuptools.build_meta:__legacy__").partition(":")
    backend = importlib.import_module(mod)
    for a in filter(None, obj.split(".")):
        backend = getattr(backend, a)
    if name == "get_requires_for_build_wheel":
        f = getattr(backend, name, None)
        result = f({}) if f else []
    else:
        # Backends build in temporary folders of their own (meson-python,
        # scikit-build-core): names drawn from a seeded sequence are the
        # same in every build.
        seed_temp_names()
        compile_side_by_side(JOBS)
        result = backend.build_wheel(args[0], {})
    with open(out, "w") as f:
        json.dump(result, f)


def seed_temp_names():
    """Has tempfile name what it makes (mkdtemp, mkstemp, ...) in this
    process from a sequence seeded with 0: the same names in every build.

    PRIVATE API: tempfile._RandomNameSequence (its _rng and _rng_pid, which
    it checks against the process's id before drawing) and
    tempfile._name_sequence, the sequence tempfile's functions draw from.
    test_private_api.py checks that two processes get the same names."""
    names = tempfile._RandomNameSequence()
    names._rng, names._rng_pid = random.Random(0), os.getpid()
    tempfile._name_sequence = names


# How many compiles a build runs at once: this machine's processors.
JOBS = max(2, os.cpu_count() or 1)


def compile_side_by_side(jobs):
    """distutils compiles an extension's sources one after the other; this
    has the compiler class every setuptools build uses (where a subclass
    does not compile its own way) compile them jobs at a time, as
    numpy.distutils did. Each source gives the same object file, and the
    objects are linked in the same order. A setuptools whose distutils
    differs from what this expects is left as it is. It reports whether it
    changed the compiler class.

    PRIVATE API: distutils' (setuptools' _distutils') CCompiler._setup_compile,
    _get_cc_args and _compile, which CCompiler.compile calls in that order.
    test_private_api.py checks that the replaced compile still compiles
    each source once, through _compile, and returns the objects in order."""
    try:
        import setuptools  # noqa: F401 (distutils is setuptools' own from here on)
        from distutils import ccompiler
        base = ccompiler.CCompiler
        base._setup_compile, base._get_cc_args, base._compile
    except (ImportError, AttributeError):
        return False
    from concurrent.futures import ThreadPoolExecutor

    def compile(self, sources, output_dir=None, macros=None, include_dirs=None, debug=False,
                extra_preargs=None, extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)

        def one(obj):
            src, ext = build[obj]
            self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

        with ThreadPoolExecutor(jobs) as pool:
            for f in [pool.submit(one, obj) for obj in objects if obj in build]:
                f.result()
        return objects

    base.compile = compile
    return True


def unpack(archive, dest):
    """Unpacks an sdist into dest and returns its top folder."""
    os.makedirs(dest)
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, filter="data")
            else:
                t.extractall(dest)
    entries = os.listdir(dest)
    if len(entries) == 1 and os.path.isdir(os.path.join(dest, entries[0])):
        return os.path.join(dest, entries[0])
    return dest


def build(sdist, outdir, options):
    """Builds sdist's wheel into outdir from ROOT/src/tree (see build_tree)."""
    top = unpack(sdist, os.path.join(ROOT, "unpacked"))
    src = os.path.join(ROOT, "src", "tree")
    os.makedirs(os.path.dirname(src))
    os.rename(top, src)
    build_tree(src, outdir, options)


def project(src, python, options=""):
    """Builds the wheel of the local project in src, from a copy at
    ROOT/src/tree (see build_tree), with options (the requirements file's
    global options, one a line), and installs it by the name its file
    gives."""
    os.makedirs(WHEELS)
    tree = os.path.join(ROOT, "src", "tree")
    shutil.copytree(src, tree, symlinks=True)
    build_tree(tree, WHEELS, [line for line in options.splitlines() if line.strip()])
    write_report("", True)
    install_wheel(python)


def global_options(requirement):
    """The global options (--index-url URL, ...) of a requirements file's
    text, requirement: its lines that start with "-"."""
    return [line for line in requirement.splitlines() if line.startswith("-")]


def build_env():
    """Makes the build environment, a venv at ROOT/env, and returns its
    Python and the environment its processes run with: temporary files in
    ROOT/tmp, the source date, and a home whose distutils configuration
    compiles side by side."""
    tmp = os.path.join(ROOT, "tmp")
    os.makedirs(tmp)
    env = os.path.join(ROOT, "env")
    run([sys.executable, "-m", "venv", "--without-pip", env])
    python = os.path.join(env, "bin", "python")
    # setuptools compiles a distribution's extensions one after the other
    # unless distutils' configuration says otherwise: asyncpg's two take
    # 7 s and 21 s. build_ext's parallel option, from a config file setuptools
    # reads (DIST_EXTRA_CONFIG, and ~/.pydistutils.cfg for setuptools before
    # 64), compiles them side by side; each extension's objects are the same.
    home = os.path.join(ROOT, "home")
    os.makedirs(home)
    cfg = os.path.join(home, ".pydistutils.cfg")
    with open(cfg, "w") as f:
        f.write("[build_ext]\nparallel = %d\n" % JOBS)
    environ = dict(os.environ, TMPDIR=tmp, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PYTHONHASHSEED="0",
                   HOME=home, DIST_EXTRA_CONFIG=cfg)
    for name in (LOCKED, LOCKED_FILE, WHEELHOUSE):
        environ.pop(name, None)
    return python, environ


def resolve_build_requirements(src, options, python, environ, report=None):
    """Installs the build requirements of the source tree src into the
    build environment as pip's isolated builds resolve them:
    pyproject.toml's build-system, then the backend's
    get_requires_for_build_wheel, with options (the requirements file's
    global options). With report, a list, it appends what each install
    took (see reported)."""
    warned = []

    def install(reqs):
        if not reqs:
            return
        if not warned:
            print(UNHASHED_BUILD_REQUIREMENTS)
            warned.append(True)
        # The requirements file's options, in a file with the build
        # requirements, apply to them as pip applies a file's options.
        reqfile = os.path.join(ROOT, "build-requirements.txt")
        with open(reqfile, "w") as f:
            f.write("".join(line + "\n" for line in [*options, *reqs]))
        out = os.path.join(ROOT, "build-requirements.json")
        more = ["--report", out] if report is not None else []
        # No byte code: the build environment is thrown away, and
        # Python compiles what the build imports as it imports it.
        run([*pip_for(python), "install", "--disable-pip-version-check", "--no-input", "--quiet", "--no-compile",
             *more, "--requirement", reqfile], env=environ)
        os.remove(reqfile)
        if report is not None:
            with open(out) as f:
                report.extend(reported(json.load(f)))
            os.remove(out)

    install(build_system(src).get("requires", ["setuptools>=40.8.0", "wheel"]))
    install(hook_call(src, python, environ, "get_requires_for_build_wheel"))


def hook_call(src, python, environ, name, *args):
    """Runs the hook NAME of src's backend in the build environment (see
    hook) and returns its result."""
    out = os.path.join(ROOT, name + ".json")
    run([python, os.path.abspath(__file__), "hook", name, out, *args], cwd=src, env=environ)
    with open(out) as f:
        return json.load(f)


def locked_requirements():
    """The build requirements imagebuild.lock records for this step (see
    LOCKED), or None when the build has no lock."""
    text = os.environ.get(LOCKED)
    return None if text is None else json.loads(text)


def hashed_lines(files):
    return ["%s==%s --hash=sha256:%s" % (f["name"], f["version"], f["sha256"]) for f in files]


def install_locked(files, options, python, environ):
    """Installs exactly files, the locked build requirements, into the
    build environment, each checked against its sha256: from WHEELHOUSE
    when the builder image has one, else from the index options name. A
    file the index or the wheelhouse no longer serves is named in the
    refusal."""
    house = os.environ.get(WHEELHOUSE)
    where = ["--no-index", "--find-links", house] if house else []
    reqfile = os.path.join(ROOT, "build-requirements.txt")
    with open(reqfile, "w") as f:
        f.write("".join(line + "\n" for line in [*([] if house else options), *hashed_lines(files)]))
    try:
        run([*pip_for(python), "install", "--disable-pip-version-check", "--no-input", "--quiet", "--no-compile",
             "--no-deps", "--require-hashes", *where, "--requirement", reqfile], env=environ)
    except subprocess.CalledProcessError:
        gone = next((f for f in files if not served(f, options, house)), None)
        if gone is None:
            raise
        refuse("the %s no longer serves %s (%s %s, sha256 %s), a build requirement imagebuild.lock records; "
               "serve it again, or run imagebuild lock to lock what it serves now"
               % ("builder image's wheelhouse" if house else "index", gone["file"], gone["name"], gone["version"],
                  gone["sha256"]))
    os.remove(reqfile)


def served(f, options, house):
    """Whether the locked file f can be had: from the wheelhouse house, or
    from the index options name, as pip finds it."""
    if house:
        path = os.path.join(house, f["file"])
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest() == f["sha256"]
    reqfile = os.path.join(ROOT, "served.txt")
    with open(reqfile, "w") as fh:
        fh.write("".join(line + "\n" for line in [*options, *hashed_lines([f])]))
    dl = os.path.join(ROOT, "served")
    os.makedirs(dl, exist_ok=True)
    try:
        with pip_finder(reqfile, dl) as req:
            found = req.best()
            if found is None or found[1] != f["file"]:
                return False
            # The finder falls back to every file when none has a hash the
            # requirement gives (so that pip's own error names the
            # mismatch): the file's hash is checked here.
            path = os.path.join(dl, found[1])
            req.download(found[0], path)
            with open(path, "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest() == f["sha256"]
    except (Exception, SystemExit):
        return True  # pip's internals did not fit: pip's own error stands


def build_tree(src, outdir, options):
    """Builds the wheel of the source tree src into outdir: the build
    requirements (as pip's isolated builds take them, see
    resolve_build_requirements, or the locked ones, see install_locked) in a
    venv at ROOT/env, temporary files in ROOT/tmp."""
    python, environ = build_env()
    files = locked_requirements()
    if files is None:
        resolve_build_requirements(src, options, python, environ)
    else:
        install_locked(files, options, python, environ)
    wheels = os.path.join(ROOT, "wheel")
    os.makedirs(wheels)
    target = cross_target()
    if target:
        environ = cross_environ(environ, target)
    name = hook_call(src, python, environ, "build_wheel", wheels)
    if target:
        check_machine(os.path.join(wheels, name), target)
    shutil.copy(os.path.join(wheels, name), outdir)
    print("imagebuild: built %s" % name)


def check_locked_file(filename):
    """Refuses filename, the file a step fetched, when imagebuild.lock was
    made with another file of the distribution (an sdist where it locked a
    wheel, say): the build requirements it records are not this file's."""
    want = os.environ.get(LOCKED_FILE)
    if want is not None and want != filename:
        refuse("fetched %s, but imagebuild.lock was made with %s; run imagebuild lock again" % (filename, want))


def fetch(outdir, requirement, record=None):
    """Puts the wheel of the one distribution requirement names into
    outdir, fetched or built from its sdist, and returns the name of the
    file fetched ("" for none) and whether it was compiled from source."""
    os.makedirs(outdir, exist_ok=True)
    path = download(requirement, record)
    if path is None:
        return "", False
    if path.endswith(".whl"):
        shutil.copy(path, outdir)
        print("imagebuild: fetched %s" % os.path.basename(path))
        return os.path.basename(path), False
    build(path, outdir, global_options(requirement))
    return os.path.basename(path), True


def download(requirement, record=None):
    """Downloads the one file requirement (a requirements file's text)
    names into ROOT/download and returns its path, or None when its
    environment markers exclude this platform. With record, the file's
    sha256 is written there (see install)."""
    dl = os.path.join(ROOT, "download")
    os.makedirs(dl)
    reqfile = os.path.join(ROOT, "requirement.txt")
    with open(reqfile, "w") as f:
        f.write(requirement)
    # A step ahead of the resolve step (record) may fetch a requirement
    # without hashes; any hash the requirement gives is checked all the same.
    hashed = not record or "--hash" in requirement
    try:
        fetch_file(reqfile, dl, hashed=hashed)
    except (HashMismatch, Refused):
        raise  # the file is not the one the requirement names, or the script refuses it
    except (Exception, SystemExit) as e:
        # pip's internals did not fit (pip exits on what its parser does
        # not take): pip download fetches the same file its own way.
        print("imagebuild: fetching with pip download (%s)" % (str(e) or type(e).__name__))
        shutil.rmtree(dl)
        os.makedirs(dl)
        hashes = ["--require-hashes"] if hashed else []
        run([*PIP, "download", "--no-deps", *hashes, *platform_options(), "--disable-pip-version-check",
             "--no-input", "--dest", dl, "--requirement", reqfile])
    files = os.listdir(dl)
    if not files:
        print("imagebuild: nothing to fetch for this platform (environment markers)")
        return None
    if len(files) != 1:
        refuse("pip downloaded %s, want one file" % ", ".join(sorted(files)))
    check_locked_file(files[0])
    path = os.path.join(dl, files[0])
    if record:
        with open(path, "rb") as f:
            write_record(record, sha256=hashlib.sha256(f.read()).hexdigest())
    return path


def lock(requirement, key, out):
    """Writes to out the file requirement names and, for an sdist, the
    build requirements isolation resolves for it (see the module's doc)."""
    path = download(requirement)
    if path is None:
        write_record(out, key=key, file="", requires=[])
    elif path.endswith(".whl"):
        write_record(out, key=key, file=os.path.basename(path), requires=[])
    else:
        top = unpack(path, os.path.join(ROOT, "unpacked"))
        write_record(out, key=key, file=os.path.basename(path), requires=lock_tree(top, global_options(requirement)))
    shutil.rmtree(ROOT)


def lock_project(src, key, out, options=""):
    """Writes to out the build requirements isolation resolves for the
    local project in src (read only; locked from a copy)."""
    tree = os.path.join(ROOT, "src", "tree")
    shutil.copytree(src, tree, symlinks=True)
    write_record(out, key=key, file="", requires=lock_tree(tree, [line for line in options.splitlines() if line.strip()]))
    shutil.rmtree(ROOT)


def lock_tree(src, options):
    """The build requirements of the source tree src, as
    resolve_build_requirements installs them, sorted by name; where two
    installs took a distribution, the later's."""
    python, environ = build_env()
    taken = []
    resolve_build_requirements(src, options, python, environ, report=taken)
    byname = {}
    for f in taken:
        byname[f["name"].lower().replace("_", "-").replace(".", "-")] = f
    return [byname[k] for k in sorted(byname)]


def wheelhouse(dest, options=""):
    """Downloads every file LOCKED names into dest, each checked against
    its sha256 (pip download --require-hashes): the builder image's
    wheelhouse."""
    files = locked_requirements() or []
    os.makedirs(ROOT)
    reqfile = os.path.join(ROOT, "wheelhouse.txt")
    with open(reqfile, "w") as f:
        f.write("".join(line + "\n" for line in [*[o for o in options.splitlines() if o.strip()],
                                                   *hashed_lines(files)]))
    run([*PIP, "download", "--no-deps", "--require-hashes", "--disable-pip-version-check", "--no-input",
         "--dest", dest, "--requirement", reqfile])
    want = sorted(f["file"] for f in files)
    if sorted(os.listdir(dest)) != want:
        refuse("the wheelhouse holds %s, want %s" % (", ".join(sorted(os.listdir(dest))), ", ".join(want)))
    shutil.rmtree(ROOT)


class HashMismatch(Exception):
    pass


def fetch_file(reqfile, dl, hashed):
    """Downloads the file pip download would take for the one requirement
    in reqfile into dl, as pip finds it (its configuration, the file's
    global options, this interpreter's tags), without preparing an sdist's
    metadata first: pip download builds an isolated environment for that,
    which build_tree then makes again. It goes through pip's internals
    (pip_finder); a pip they do not fit fails here, and fetch takes pip
    download instead. With hashed, a requirement without a hash is refused."""
    with pip_finder(reqfile, dl) as req:
        if not req.applies:
            return
        if hashed and not req.hashed:
            refuse("%s has no --hash; its step installs what was locked or resolved only" % req.name)
        found = req.best()
        if found is None:
            raise ValueError("no file of %s found" % req.requirement)
        url, filename = found
        path = os.path.join(dl, filename)
        req.download(url, path)
        if req.hashed and not req.check(path):
            with open(path, "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
            raise HashMismatch("%s has sha256 %s, not a hash the requirements give for it" % (filename, got))
    print("imagebuild: downloaded %s" % filename)


@contextlib.contextmanager
def pip_finder(reqfile, dl):
    """Yields the one requirement of reqfile as pip download --dest dl reads
    it (pip's configuration, the file's global options, this interpreter's
    tags), as plain values and calls:

      name, requirement  its name, and its text without options
      applies            whether its environment markers hold here (or,
                         cross-building, on the target: marker_environment)
      hashed             whether it gives hashes
      best()             (url, file name) of the file pip would take (of
                         those that match its hashes, where any do), or None
      download(url, path)  that file, through pip's session (its
                         credentials, proxies and certificates)
      check(path)        whether the file at path matches its hashes

    PRIVATE API: pip._internal: create_command("download") and the
    command's parse_args, main_context, get_default_session,
    _build_package_finder (with cmdoptions.make_target_python, as pip
    download builds it, for --platform) and get_requirements;
    InstallRequirement's req, markers and hashes(trust_internet=False);
    PackageFinder.find_best_candidate(...).best_candidate.link's
    url_without_fragment and filename; Hashes.check_against_path. Every use
    of them is here; test_private_api.py checks each against the installed
    pip."""
    from pip._internal.commands import create_command

    from pip._internal.cli.cmdoptions import make_target_python

    cmd = create_command("download")
    options, args = cmd.parse_args(["--no-deps", "--disable-pip-version-check", "--no-input", *platform_options(),
                                    "--dest", dl, "--requirement", reqfile])
    options.editables = []  # as pip download sets it
    with cmd.main_context():
        session = cmd.get_default_session(options)
        finder = cmd._build_package_finder(options=options, session=session,
                                           target_python=make_target_python(options))
        reqs = cmd.get_requirements(args, options, finder, session)
        if len(reqs) != 1:
            raise ValueError("want one requirement, have %d" % len(reqs))
        req = reqs[0]
        hashes = req.hashes(trust_internet=False)

        def best():
            found = finder.find_best_candidate(req.req.name, req.req.specifier, hashes=hashes).best_candidate
            if found is None:
                return None
            return found.link.url_without_fragment, found.link.filename

        def download(url, path):
            with session.get(url, stream=True) as resp:
                resp.raise_for_status()
                with open(path, "wb") as f:
                    for chunk in resp.iter_content(1 << 16):
                        f.write(chunk)

        def check(path):
            try:
                hashes.check_against_path(path)
            except Exception:
                return False
            return True

        applies = req.markers is None or req.markers.evaluate(dict(marker_environment(), extra=""))
        yield types.SimpleNamespace(name=req.name, requirement=str(req.req), applies=applies,
                                    hashed=bool(hashes), best=best, download=download, check=check)


def install_wheel(python):
    """Installs the wheel in WHEELS alone into python's environment with
    pip's own wheel installer, as pip install installs it (see
    install_into), and removes ROOT. pip install would start its whole
    command (and, to find the file, a finder) first, and check the wheel's
    tags: the file was chosen by them (pip_finder) or built here, and a
    cross-built wheel's are another machine's (see cross).

    Where python is a venv of this very interpreter (the builder stage's
    venvs are: the pip tool's and VENV), it installs in this process, with
    the venv's paths (venv_scheme): starting python and importing pip's
    installer there again cost each step about 0.4 s. Elsewhere it runs
    this file's install-wheel command under python, which takes the paths
    pip's get_scheme gives there (see install_wheel_under)."""
    filename = os.listdir(WHEELS)[0]
    wheel, name = os.path.join(WHEELS, filename), filename.split("-")[0]
    scheme = venv_scheme(python, name)
    if scheme is None:
        import pip

        run([python, os.path.abspath(__file__), "install-wheel", os.path.dirname(os.path.dirname(pip.__file__)), wheel,
             name, VENV])
    else:
        install_into(python, name, wheel, scheme, VENV)
    shutil.rmtree(ROOT)


def install_wheel_under(pip_dir, wheel, name, venv):
    """The install-wheel command: install_into this interpreter's
    environment, venv, with the pip in pip_dir and the paths its get_scheme
    gives name.

    PRIVATE API: pip._internal.locations.get_scheme; test_private_api.py
    checks that this installs what install_into in the script's process
    installs."""
    sys.path.insert(0, pip_dir)
    from pip._internal.locations import get_scheme

    install_into(sys.executable, name, wheel, get_scheme(name), venv)


def install_into(python, name, wheel, scheme, venv):
    """Installs wheel, distribution name's, by pip's wheel installer at
    scheme's paths, as pip install installs it (its files, RECORD,
    INSTALLER, REQUESTED, scripts naming python; no direct_url.json), then
    compiles venv's byte code with hash-based invalidation. compile_dir
    with force: a .pth file that imports a module at startup (setuptools'
    distutils-precedence.pth) has an interpreter that starts on the venv
    write that module's byte code, timestamp-based; without force it would
    be taken for up to date, and the image would hold the unpacking time of
    the source.

    PRIVATE API: pip._internal.operations.install.wheel.install_wheel,
    whose scripts name sys.executable: python while it runs.
    test_private_api.py checks that it installs what pip install installs,
    and a wheel pip install refuses by its tags."""
    import compileall
    import py_compile

    from pip._internal.operations.install.wheel import install_wheel as pip_install_wheel

    executable = sys.executable
    sys.executable = python
    try:
        pip_install_wheel(name, wheel, scheme, req_description=name, pycompile=False, warn_script_location=False,
                          requested=True)
    finally:
        sys.executable = executable
    if not compileall.compile_dir(venv, quiet=1, force=True,
                                  invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH):
        raise SystemExit("compileall failed in %s" % venv)


def venv_scheme(python, name):
    """The paths pip's get_scheme gives distribution name under python, a
    venv (pip's Scheme), computed here without starting it: sysconfig's
    venv scheme (Python 3.11 and later) over the venv's folder, and pip's
    header path for a venv. None unless python's interpreter is this one
    (the same file, once links are followed), whose sysconfig and byte
    code are then python's.

    PRIVATE API: pip._internal.models.scheme.Scheme; test_private_api.py
    checks it against get_scheme run under the venv's Python."""
    import sysconfig

    base = os.path.dirname(os.path.dirname(python))
    if ("venv" not in sysconfig.get_scheme_names() or
            not os.path.isfile(os.path.join(base, "pyvenv.cfg")) or
            os.path.realpath(python) != os.path.realpath(sys.executable)):
        return None
    from pip._internal.models.scheme import Scheme

    paths = sysconfig.get_paths(scheme="venv", vars={"base": base, "platbase": base, "installed_base": base,
                                                      "installed_platbase": base})
    xy = "%d.%d" % sys.version_info[:2]
    return Scheme(platlib=paths["platlib"], purelib=paths["purelib"],
                  headers=os.path.join(base, "include", "site", "python" + xy, name), scripts=paths["scripts"],
                  data=paths["data"])


def wheel_metadata(wheel):
    """The wheel's METADATA, as an email message."""
    from email.parser import Parser

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(meta).decode("utf-8"))


def requires(wheel):
    """The dependencies the wheel's metadata names whose environment markers
    hold here (this interpreter is the venv's Python), as
    [{"name", "specifier", "extras"}]: what a resolver adds for it. It
    reads them with the packaging pip bundles (pip._vendor.packaging: the
    builder's Python has pip, not always packaging); test_imagebuild_pip.py
    checks it on a wheel's METADATA."""
    from pip._vendor.packaging.requirements import Requirement

    msg = wheel_metadata(wheel)
    out = []
    for line in msg.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(dict(marker_environment(), extra="")):
            out.append({"name": req.name, "specifier": str(req.specifier), "extras": sorted(req.extras)})
    return out


def write_report(fetched, compiled):
    """Writes REPORT: the file the step fetched ("" for none), the wheel it
    installed ("" for none), whether that wheel was compiled from source,
    and, cross-building, that it was built for another platform."""
    wheels = os.listdir(WHEELS) if os.path.isdir(WHEELS) else []
    cross = {"cross": True} if cross_target() else {}
    write_record(REPORT, file=fetched, wheel=wheels[0] if wheels else "", compiled=compiled, **cross)


def write_record(path, **record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f)


def install(requirement, name, python, record=None):
    """With record, the step runs ahead of the resolve step, without the
    file's hash: it writes to record the sha256 of the file it fetched, the
    version its wheel's metadata gives (requirement may name a range) and
    the dependencies it names (see requires), or why it fetched none, and
    does not fail (the build then takes the distribution's own step)."""
    try:
        fetched, compiled = fetch(WHEELS, requirement, record)
        write_report(fetched, compiled)
        wheels = os.listdir(WHEELS)
        if record and wheels:
            with open(record) as f:
                fetched = json.load(f)
            wheel = os.path.join(WHEELS, wheels[0])
            write_record(record, sha256=fetched["sha256"], version=wheel_metadata(wheel)["Version"],
                         requires=requires(wheel))
        if wheels:
            install_wheel(python)
        else:
            shutil.rmtree(ROOT)
    except (Exception, SystemExit) as e:
        if not record:
            raise
        write_record(record, error=str(e) or type(e).__name__)
        print("imagebuild: %s: %s; the build takes its own step once resolved" % (name, e))


def cross_target():
    """The platform this step builds for when it is not this
    interpreter's (CROSS, CROSS_MACHINE), as triplet and machine; None for
    this interpreter's own."""
    triplet = os.environ.get(CROSS)
    if not triplet:
        return None
    return types.SimpleNamespace(triplet=triplet, machine=os.environ[CROSS_MACHINE])


def cross_platforms(machine):
    """The platform tags of machine, as pip would take them there: this
    interpreter's own (manylinux_2_36_x86_64, ..., linux_x86_64) with
    machine for this one's. The builder stage that cross-builds runs the
    target's base for this machine: the same libc, at the same version."""
    from pip._vendor.packaging import tags

    here, out = platform.machine(), []
    for t in tags.sys_tags():
        if t.platform.endswith("_" + here):
            p = t.platform[:-len(here)] + machine
            if p not in out:
                out.append(p)
    return out


def platform_options():
    """pip's options that choose files for the target, cross-building: its
    platform tags (the interpreter's version and ABI are this one's, which
    are the target's); none otherwise."""
    target = cross_target()
    if not target:
        return []
    return [opt for p in cross_platforms(target.machine) for opt in ("--platform", p)]


def marker_environment():
    """What environment markers see of the target that is not this
    interpreter's, cross-building: its machine. Nothing otherwise."""
    target = cross_target()
    return {"platform_machine": target.machine} if target else {}


def cross_environ(environ, target):
    """environ for a backend that builds for target: the target Python's
    sysconfig (its _sysconfigdata module, beside this Python's standard
    library: the extension suffix, ABI, flags), its platform for the
    wheel's tag, and the cross compiler, which distutils and setuptools take
    from CC and CXX (and the linker from them)."""
    stdlib = os.path.dirname(os.__file__)
    found = sorted(glob.glob(os.path.join(stdlib, "_sysconfigdata_*_%s.py" % target.triplet)))
    if not found:
        raise ValueError("the builder stage has no sysconfig of the target's Python (%s/_sysconfigdata_*_%s.py)"
                         % (stdlib, target.triplet))
    cc = target.triplet + "-"
    return dict(environ, _PYTHON_SYSCONFIGDATA_NAME=os.path.basename(found[0])[:-3],
                _PYTHON_HOST_PLATFORM="linux-" + target.machine, CC=cc + "gcc", CXX=cc + "g++", AR=cc + "ar")


def check_machine(wheel, target):
    """Fails unless every ELF file in wheel is for target's machine, and its
    tag names that machine (or none): a backend that ignored the cross
    compiler built for this one."""
    want = ELF_MACHINES.get(target.machine)
    plat = os.path.basename(wheel)[:-len(".whl")].split("-")[-1]
    if plat != "any" and not all(p.endswith("_" + target.machine) for p in plat.split(".")):
        raise ValueError("the backend built %s, not a wheel for %s" % (os.path.basename(wheel), target.machine))
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            with z.open(name) as f:
                head = f.read(20)
            if head[:4] != b"\x7fELF":
                continue
            got = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
            if got != want:
                raise ValueError("the backend built %s for ELF machine %d, not %s's (%s)"
                                 % (name, got, target.machine, want))


def cross(requirement, name, python, record):
    """install, building for the target (see the module's doc)."""
    if not cross_target():
        refuse("cross needs %s and %s" % (CROSS, CROSS_MACHINE))
    try:
        install(requirement, name, python)
    except (HashMismatch, Refused):
        raise
    except (Exception, SystemExit) as e:
        why = str(e) or type(e).__name__
        write_record(record, error=why)
        print("imagebuild: %s cannot be cross-built (%s); the build takes it under emulation" % (name, why))
        return
    write_record(record, built=True)


if __name__ == "__main__":
    # The folder this file is in is not for imports (sys.path[0]).
    del sys.path[0]
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "resolve":
        resolve(*args)
    elif cmd == "install":
        install(*args)
    elif cmd == "cross":
        cross(*args)
    elif cmd == "project":
        project(*args)
    elif cmd == "hook":
        hook(*args)
    elif cmd == "install-wheel":
        install_wheel_under(*args)
    elif cmd == "lock":
        lock(*args)
    elif cmd == "lock-project":
        lock_project(*args)
    elif cmd == "wheelhouse":
        wheelhouse(*args)
    else:
        sys.exit("imagebuild-pip: unknown command %r" % cmd)
