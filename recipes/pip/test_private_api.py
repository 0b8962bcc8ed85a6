"""Tests of what imagebuild-pip.py takes from pip's and Python's internals,
each use in one function of the script: each test calls that function
against the installed pip, setuptools and Python, and fails when they no
longer do what the script relies on. See fixtures.py for how they run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import platform
import zipfile
from unittest import mock

from fixtures import (SCRIPT, Index, ScriptTest, isolate_pip, pip_script, sdist, sha256, site_packages, venv, wheel,
                      wheel_files, write_zip)

index = None


def setUpModule():
    global index
    index = Index()
    unittest.addModuleCleanup(index.close)
    isolate_pip(index.url)


class PipFor(ScriptTest):
    """pip_for: pip's __pip-runner__.py, run under another interpreter,
    runs this pip and installs into that interpreter's environment."""

    def test_installs_into_the_given_interpreters_venv(self):
        python = venv(self.path("venv"))
        os.makedirs(self.path("wheels"))
        wheel(self.path("wheels"), "runner-probe", "1.0")
        cmd = pip_script.pip_for(python)
        version = subprocess.run([*cmd, "--version"], check=True, capture_output=True, text=True).stdout
        import pip
        self.assertIn(os.path.dirname(pip.__file__), version, "the runner ran another pip")
        subprocess.run([*cmd, "install", "--no-index", "--no-deps", "--quiet", "--find-links", self.path("wheels"),
                        "runner-probe"], check=True)
        self.assertTrue(os.path.isfile(os.path.join(site_packages(self.path("venv")), "runner_probe", "__init__.py")))
        got = subprocess.run([python, "-c", "import runner_probe; print(runner_probe.VERSION)"], check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual(got, "1.0\n")


class PipFinder(ScriptTest):
    """pip_finder: pip download's command, finder and requirements, read
    through pip._internal."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="imagebuild-pip-dists-")
        cls.addClassCleanup(shutil.rmtree, folder)
        cls.whl = wheel(folder, "finder-probe", "1.0")
        cls.whl_sum = index.add(cls.whl)
        cls.sdist_sum = index.add(sdist(folder, "finder-probe", "1.0", requires=[]))
        cls.newer_sum = index.add(wheel(folder, "finder-probe", "2.0"))
        # Another index, which only the requirements file names.
        cls.other = Index()
        cls.addClassCleanup(cls.other.close)
        cls.other_sum = cls.other.add(wheel(folder, "elsewhere", "3.0"))

    def find(self, requirement):
        reqfile = self.path("requirement.txt")
        with open(reqfile, "w") as f:
            f.write(requirement)
        os.makedirs(self.path("dl"), exist_ok=True)
        with pip_script.pip_finder(reqfile, self.path("dl")) as req:
            best = req.best()
            return req, best

    def test_the_requirement(self):
        cases = [
            ("hashed", "finder-probe==1.0 --hash=sha256:%s\n" % self.whl_sum, "finder-probe", True, True),
            ("unhashed", "finder-probe==1.0\n", "finder-probe", True, False),
            ("markers", "finder-probe==1.0 ; python_version < '3'\n", "finder-probe", False, False),
        ]
        for name, text, want_name, applies, hashed in cases:
            with self.subTest(name):
                req, _ = self.find(text)
                self.assertEqual((req.name, req.applies, req.hashed), (want_name, applies, hashed))
                self.assertEqual(req.requirement, "finder-probe==1.0")

    def test_best(self):
        base = index.url.replace("/simple/", "/files/")
        cases = [
            ("the wheel, as pip prefers", "finder-probe==1.0\n", "finder_probe-1.0-py3-none-any.whl"),
            ("the newest", "finder-probe\n", "finder_probe-2.0-py3-none-any.whl"),
            ("the file the hash names", "finder-probe==1.0 --hash=sha256:%s\n" % self.sdist_sum,
             "finder_probe-1.0.tar.gz"),
            ("none", "finder-probe==9\n", None),
        ]
        for name, text, want in cases:
            with self.subTest(name):
                _, best = self.find(text)
                self.assertEqual(best, want and (base + want, want))

    def test_the_files_index_options(self):
        _, best = self.find("--index-url %s\nelsewhere==3.0\n" % self.other.url)
        self.assertEqual(best, (self.other.file_url + "elsewhere-3.0-py3-none-any.whl",
                                "elsewhere-3.0-py3-none-any.whl"))

    def test_download_and_check(self):
        reqfile = self.path("requirement.txt")
        with open(reqfile, "w") as f:
            f.write("finder-probe==1.0 --hash=sha256:%s\n" % self.whl_sum)
        os.makedirs(self.path("dl"))
        with pip_script.pip_finder(reqfile, self.path("dl")) as req:
            url, filename = req.best()
            path = self.path("dl", filename)
            req.download(url, path)
            self.assertEqual(sha256(path), self.whl_sum)
            self.assertTrue(req.check(path))
            with open(path, "ab") as f:
                f.write(b"changed")
            self.assertFalse(req.check(path))

    def test_the_targets_platform(self):
        # Cross-building (pipTool's cross), the finder takes the target's
        # wheel by its tags, and markers see the target's machine.
        folder = self.path("plat")
        os.makedirs(folder)
        other = "aarch64" if platform.machine() != "aarch64" else "x86_64"
        for machine in (platform.machine(), other):
            tag = "py3-none-manylinux_2_17_" + machine
            path = os.path.join(folder, "platform_probe-1.0-%s.whl" % tag)
            write_zip(path, wheel_files("platform-probe", "1.0", {"platform_probe.py": "M = %r\n" % machine}, [], tag))
            index.add(path)
        with mock.patch.dict(os.environ, {pip_script.CROSS: other + "-linux-gnu", pip_script.CROSS_MACHINE: other}):
            _, best = self.find("platform-probe==1.0\n")
            self.assertEqual(best[1], "platform_probe-1.0-py3-none-manylinux_2_17_%s.whl" % other)
            req, _ = self.find("platform-probe==1.0 ; platform_machine == '%s'\n" % other)
            self.assertTrue(req.applies)
        _, best = self.find("platform-probe==1.0\n")
        self.assertEqual(best[1], "platform_probe-1.0-py3-none-manylinux_2_17_%s.whl" % platform.machine())
        req, _ = self.find("platform-probe==1.0 ; platform_machine == '%s'\n" % other)
        self.assertFalse(req.applies)

    def test_more_than_one_requirement(self):
        with self.assertRaisesRegex(ValueError, "want one requirement, have 2"):
            self.find("finder-probe==1.0\nelsewhere==3.0\n")


class InstallWheel(ScriptTest):
    """install_wheel: pip's wheel installer, run under the venv's Python,
    installs a wheel as pip install does (the same files, byte for byte:
    RECORD, INSTALLER, REQUESTED, scripts naming the venv's Python), and a
    wheel for another machine, which pip install refuses by its tags."""

    def make_wheel(self, tag):
        os.makedirs(pip_script.WHEELS, exist_ok=True)
        path = os.path.join(pip_script.WHEELS, "as_is_probe-1.0-%s.whl" % tag)
        files = wheel_files("as-is-probe", "1.0", {"as_is_probe.py": "def main():\n    print('as is')\n"}, [], tag)
        files["as_is_probe-1.0.dist-info/entry_points.txt"] = "[console_scripts]\nas-is-probe = as_is_probe:main\n"
        write_zip(path, files)
        return path

    def tree(self, folder):
        out = {}
        for top, _, names in os.walk(folder):
            for n in names:
                p = os.path.join(top, n)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, folder)] = f.read()
        return out

    def test_as_pip_install_installs(self):
        python = venv(self.path("pip-venv"))
        path = self.make_wheel("py3-none-any")
        subprocess.run([*pip_script.pip_for(python), "install", "--no-deps", "--no-index", "--no-compile", "--quiet",
                        "--find-links", pip_script.WHEELS, "as-is-probe"], check=True)
        subprocess.run([python, "-m", "compileall", "-q", "-f", "--invalidation-mode", "checked-hash",
                        self.path("pip-venv")], check=True)
        want = self.tree(self.path("pip-venv"))
        # The same path as pip install's venv, so that scripts name the same Python.
        os.rename(self.path("pip-venv"), self.path("pip-venv.done"))
        python = venv(self.path("pip-venv"))
        pip_script.VENV = self.path("pip-venv")
        self.make_wheel("py3-none-any")
        pip_script.install_wheel(python)
        got = self.tree(self.path("pip-venv"))
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name], want[name], name)
        self.assertFalse(os.path.exists(pip_script.ROOT), "ROOT is left behind")

    def test_as_pip_install_installs_from_another_interpreter(self):
        """The same files where python is not this interpreter's venv: the
        install-wheel command, run under it."""
        self.make_wheel("py3-none-any")
        in_process = venv(self.path("venv"))
        pip_script.VENV = self.path("venv")
        with mock.patch.object(pip_script, "run", wraps=pip_script.run) as ran:
            pip_script.install_wheel(in_process)
        self.assertFalse(ran.called, "install_wheel started a process for a venv of this interpreter")
        want = self.tree(self.path("venv"))
        os.rename(self.path("venv"), self.path("venv.done"))
        python = venv(self.path("venv"))
        self.make_wheel("py3-none-any")
        with mock.patch.object(pip_script, "venv_scheme", return_value=None), \
                mock.patch.object(pip_script, "run", wraps=pip_script.run) as ran:
            pip_script.install_wheel(python)
        self.assertEqual([ran.call_args.args[0][0], ran.call_args.args[0][2]], [python, "install-wheel"],
                         "install_wheel did not start python")
        got = self.tree(self.path("venv"))
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name], want[name], name)

    def test_venv_scheme_is_get_schemes_under_the_venv(self):
        python = venv(self.path("venv"))
        import pip
        got = pip_script.venv_scheme(python, "scheme-probe")
        self.assertIsNotNone(got, "venv_scheme did not take a venv of this interpreter (Python 3.11 or later)")
        want = json.loads(subprocess.run(
            [python, "-c", "import json, sys; sys.path.insert(0, sys.argv[1]); "
                           "from pip._internal.locations import get_scheme; s = get_scheme('scheme-probe'); "
                           "print(json.dumps({k: getattr(s, k) for k in ('platlib', 'purelib', 'headers', 'scripts', 'data')}))",
             os.path.dirname(os.path.dirname(pip.__file__))], check=True, capture_output=True, text=True).stdout)
        self.assertEqual({k: getattr(got, k) for k in want}, want)
        # Not this interpreter: another file (a copy) is left to install-wheel.
        copy = self.path("python-copy")
        shutil.copy(os.path.realpath(python), copy)
        os.symlink(copy, self.path("venv", "bin", "python-copy"))
        self.assertIsNone(pip_script.venv_scheme(self.path("venv", "bin", "python-copy"), "scheme-probe"))

    def test_installs_another_machines_wheel(self):
        python = venv(pip_script.VENV)
        other = "aarch64" if platform.machine() != "aarch64" else "x86_64"
        path = self.make_wheel("cp3%d-cp3%d-linux_%s" % (sys.version_info[1], sys.version_info[1], other))
        refused = subprocess.run([*pip_script.pip_for(python), "install", "--no-deps", "--no-index", "--quiet", path],
                                 capture_output=True, text=True)
        self.assertNotEqual(refused.returncode, 0, "pip install took a wheel for another machine")
        pip_script.install_wheel(python)
        site = site_packages(pip_script.VENV)
        info = os.path.join(site, "as_is_probe-1.0.dist-info")
        with open(os.path.join(info, "INSTALLER")) as f:
            self.assertEqual(f.read(), "pip\n")
        self.assertTrue(os.path.isfile(os.path.join(info, "REQUESTED")))
        self.assertTrue(any(n.startswith("as_is_probe.") and n.endswith(".pyc")
                            for n in os.listdir(os.path.join(site, "__pycache__"))), "no byte code")
        script = os.path.join(pip_script.VENV, "bin", "as-is-probe")
        with open(script) as f:
            self.assertEqual(f.readline(), "#!%s\n" % python)
        got = subprocess.run([script], check=True, capture_output=True, text=True).stdout
        self.assertEqual(got, "as is\n")


class SeedTempNames(unittest.TestCase):
    """seed_temp_names: tempfile's name sequence, replaced by a seeded one,
    gives the same names in every process."""

    def names(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        code = ("import importlib.util, json, sys, tempfile\n"
                "spec = importlib.util.spec_from_file_location('s', sys.argv[1])\n"
                "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                "m.seed_temp_names()\n"
                "print(json.dumps([tempfile.mkdtemp(dir=sys.argv[2]), tempfile.mkstemp(dir=sys.argv[2])[1],\n"
                "                  tempfile.mkdtemp(dir=sys.argv[2])]))\n")
        out = subprocess.run([sys.executable, "-c", code, SCRIPT, folder], check=True, capture_output=True,
                             text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).stdout
        return [os.path.basename(p) for p in json.loads(out)]

    def test_the_same_names_in_every_process(self):
        first, second = self.names(), self.names()
        self.assertEqual(first, second)
        self.assertEqual(len(set(first)), 3, first)


class CompileSideBySide(unittest.TestCase):
    """compile_side_by_side: its tests (compile_side_by_side_checks.py) run
    in an interpreter of their own, as the hook runs it: one that imports
    setuptools before anything imports the standard library's distutils
    (pip's internals, in this process, do)."""

    def test_in_a_fresh_interpreter(self):
        run = subprocess.run([sys.executable, "-m", "unittest", "-v", "compile_side_by_side_checks"],
                             cwd=os.path.dirname(SCRIPT), capture_output=True, text=True,
                             env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("Ran 3 tests", run.stderr)


if __name__ == "__main__":
    unittest.main()
