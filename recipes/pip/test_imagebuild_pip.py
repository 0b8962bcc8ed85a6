"""Tests of imagebuild-pip.py's steps, each against a PEP 503 index on
127.0.0.1 serving wheels and sdists made here: what resolve writes, the
build requirements a build installs (build_system, the hook), how fetch
falls back to pip download and when it must not, and what requires reads
from a wheel's METADATA. See fixtures.py for how they run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from unittest import mock

from fixtures import (Index, ScriptTest, captured, isolate_pip, pip_script, sdist, sha256, site_packages, tree,
                      venv, wheel, wheel_files, write_zip)

index = None


def setUpModule():
    global index
    index = Index()
    unittest.addModuleCleanup(index.close)
    isolate_pip(index.url)


class Resolve(ScriptTest):
    """resolve writes the distributions pip would install, sorted by name,
    with the sha256 the index gives and no URL, leaving out local projects
    (their dependencies are in); a direct reference is refused."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="imagebuild-pip-dists-")
        cls.addClassCleanup(shutil.rmtree, folder)
        cls.sums = {}
        for name, version, requires in [("alpha", "1.0", ["beta>=1"]), ("beta", "1.0", []), ("beta", "2.0", []),
                                        ("Gamma", "1.0", [])]:
            cls.sums[name, version] = index.add(wheel(folder, name, version, requires))

    def setUp(self):
        super().setUp()
        self.python = venv(self.path("venv"))
        os.makedirs(self.path("ctx"))
        os.chdir(self.path("ctx"))

    def write_requirements(self, text):
        with open("requirements.txt", "w") as f:
            f.write(text)

    def test_the_set_sorted_with_hashes_without_local_projects(self):
        # As the step runs it: in the requirements file's folder, which
        # holds the local projects, given the file's absolute path.
        tree(self.path("ctx", "proj"), "proj", "0.1", depends=["Gamma==1.0"])
        self.write_requirements("alpha\n./proj\n")
        before = sorted(os.listdir("proj"))
        out = self.path("lock.json")
        with captured():
            pip_script.resolve(os.path.abspath("requirements.txt"), out, self.python)
        with open(out) as f:
            text = f.read()
        want = [
            {"name": "alpha", "version": "1.0", "sha256": self.sums["alpha", "1.0"]},
            {"name": "beta", "version": "2.0", "sha256": self.sums["beta", "2.0"]},
            {"name": "Gamma", "version": "1.0", "sha256": self.sums["Gamma", "1.0"]},
        ]
        self.assertEqual(json.loads(text), want)
        self.assertNotIn("127.0.0.1", text, "the lock names the index")
        self.assertEqual(sorted(os.listdir("proj")), before, "resolve wrote into the context's project")
        self.assertFalse(os.path.exists(os.path.join(pip_script.ROOT, "report.json")), "pip's report left behind")

    def test_a_direct_reference_is_refused(self):
        self.write_requirements("alpha @ %salpha-1.0-py3-none-any.whl\n" % index.file_url)
        with captured(), self.assertRaises(pip_script.Refused) as e:
            pip_script.resolve(os.path.abspath("requirements.txt"), self.path("lock.json"), self.python)
        self.assertIn("imagebuild: error: alpha is a direct reference", str(e.exception))



class Locked(unittest.TestCase):
    """locked turns pip's installation report (its format in pip 22.2 and
    later: "hash", and "hashes" from pip 23.1) into what resolve writes."""

    SUM_A, SUM_B = "a" * 64, "b" * 64

    def item(self, name, version, info, direct=False):
        return {"metadata": {"name": name, "version": version}, "is_direct": direct, "download_info": info}

    def test_locked(self):
        archive = lambda sha: {"url": "https://token@index.example/f.whl", "archive_info": {"hashes": {"sha256": sha}}}
        cases = [
            ("hashes, sorted by name whatever its case", [
                self.item("zeta", "1.0", archive(self.SUM_A)),
                self.item("Alpha", "2.0", archive(self.SUM_B)),
            ], [
                {"name": "Alpha", "version": "2.0", "sha256": self.SUM_B},
                {"name": "zeta", "version": "1.0", "sha256": self.SUM_A},
            ]),
            ("hash alone (pip before 23.1)", [
                self.item("alpha", "1.0", {"url": "u", "archive_info": {"hash": "sha256=" + self.SUM_A}}),
            ], [{"name": "alpha", "version": "1.0", "sha256": self.SUM_A}]),
            ("a local project is left out", [
                self.item("proj", "0.1", {"url": "file:///run/proj", "dir_info": {}}, direct=True),
                self.item("alpha", "1.0", archive(self.SUM_A)),
            ], [{"name": "alpha", "version": "1.0", "sha256": self.SUM_A}]),
            ("nothing", [], []),
        ]
        for name, items, want in cases:
            with self.subTest(name):
                self.assertEqual(pip_script.locked({"version": "1", "install": items}), want)

    def test_refused(self):
        cases = [
            ("a URL", self.item("alpha", "1.0", {"url": "https://h/alpha.whl", "archive_info": {}}, direct=True),
             "imagebuild: error: alpha is a direct reference (a path or URL), not a distribution from the index; "
             "imagebuild builds what the index serves: publish it there"),
            ("a VCS checkout", self.item("alpha", "1.0", {"url": "https://h/alpha.git", "vcs_info": {"vcs": "git"}},
                                         direct=True), "imagebuild: error: alpha is a direct reference"),
            ("a folder not on file://", self.item("alpha", "1.0", {"url": "https://h/x", "dir_info": {}}, direct=True),
             "imagebuild: error: alpha is a direct reference"),
            ("no hash", self.item("beta", "1.0", {"url": "u", "archive_info": {}}),
             "imagebuild: error: the index gives no sha256 for beta"),
            ("a hash that is not sha256", self.item("beta", "1.0", {"url": "u", "archive_info": {"hash": "md5=00"}}),
             "imagebuild: error: the index gives no sha256 for beta"),
        ]
        for name, item, want in cases:
            with self.subTest(name), self.assertRaises(pip_script.Refused) as e:
                pip_script.locked({"install": [self.item("ok", "1", {"url": "u", "archive_info": {"hash": "sha256=" + self.SUM_A}}), item]})
            self.assertTrue(str(e.exception).startswith(want), str(e.exception))
            self.assertEqual(e.exception.code, str(e.exception), "a refusal does not exit 1 with its message")


class BuildRequirements(ScriptTest):
    """A build installs pyproject.toml's build-system requires, then what
    the backend's get_requires_for_build_wheel hook asks for, from the
    index the requirements file's options name."""

    def test_build_system(self):
        cases = [
            ("no pyproject.toml", None, {}),
            ("no build-system table", dict(build_system=False), {}),
            ("a build-system table", dict(requires=["flit_core>=3"]),
             {"requires": ["flit_core>=3"], "build-backend": "backend", "backend-path": ["."]}),
        ]
        for name, kw, want in cases:
            with self.subTest(name):
                folder = self.path(name.replace(" ", "-"))
                if kw is None:
                    os.makedirs(folder)
                else:
                    tree(folder, "proj", "1.0", **kw)
                self.assertEqual(pip_script.build_system(folder), want)

    def hook(self, src, name, *args):
        out = self.path(name + ".json")
        subprocess.run([sys.executable, pip_script.__file__, "hook", name, out, *args], cwd=src, check=True)
        with open(out) as f:
            return json.load(f)

    def test_hook_get_requires_for_build_wheel(self):
        cases = [("the backend's list", ["dynreq==1.0"], ["dynreq==1.0"]), ("no such hook", None, [])]
        for name, dynamic, want in cases:
            with self.subTest(name):
                src = tree(self.path(name.replace(" ", "-")), "proj", "1.0", dynamic=dynamic)
                self.assertEqual(self.hook(src, "get_requires_for_build_wheel"), want)

    def test_hook_build_wheel(self):
        src = tree(self.path("src"), "proj", "1.0")
        os.makedirs(self.path("wheels"))
        self.assertEqual(self.hook(src, "build_wheel", self.path("wheels")), "proj-1.0-py3-none-any.whl")
        self.assertEqual(os.listdir(self.path("wheels")), ["proj-1.0-py3-none-any.whl"])

    def test_from_the_files_index(self):
        # The build requirements are on another index than pip's configured
        # one: the requirements file's --index-url names it.
        other = Index()
        self.addCleanup(other.close)
        os.makedirs(self.path("dists"))
        for name in ["buildreq", "dynreq"]:
            other.add(wheel(self.path("dists"), name, "1.0"))
        src = tree(self.path("src"), "proj", "1.0", requires=["buildreq"], dynamic=["dynreq==1.0"],
                   imports=["buildreq", "dynreq"])
        os.makedirs(self.path("out"))
        with captured() as out:
            pip_script.build_tree(src, self.path("out"), ["--index-url " + other.url])
        self.assertEqual(os.listdir(self.path("out")), ["proj-1.0-py3-none-any.whl"], out.text)
        self.assertEqual(out.text.count(pip_script.UNHASHED_BUILD_REQUIREMENTS), 1, out.text)
        self.assertIn("imagebuild: built proj-1.0-py3-none-any.whl", out.text)

    def test_without_the_files_index_they_are_not_found(self):
        src = tree(self.path("src"), "proj", "1.0", requires=["buildreq"])
        os.makedirs(self.path("out"))
        with captured(), self.assertRaises(subprocess.CalledProcessError):
            pip_script.build_tree(src, self.path("out"), [])

    def test_none_no_warning(self):
        src = tree(self.path("src"), "proj", "1.0", requires=[], dynamic=[])
        os.makedirs(self.path("out"))
        with captured() as out:
            pip_script.build_tree(src, self.path("out"), [])
        self.assertNotIn(pip_script.UNHASHED_BUILD_REQUIREMENTS, out.text)
        self.assertEqual(os.listdir(self.path("out")), ["proj-1.0-py3-none-any.whl"], out.text)


class LockedBuildRequirements(ScriptTest):
    """imagebuild lock records the build requirements isolation resolves
    (both installs: build-system's requires, then the hook's), each with
    its file and sha256; a build under the lock installs exactly those
    files, hash-checked, from the index or the builder image's wheelhouse,
    and names the first file that cannot be had."""

    @classmethod
    def setUpClass(cls):
        cls.other = Index()
        cls.addClassCleanup(cls.other.close)
        cls.dists = tempfile.mkdtemp(prefix="imagebuild-pip-dists-")
        cls.addClassCleanup(shutil.rmtree, cls.dists)
        cls.sums = {}
        for name, version in [("buildreq", "1.0"), ("buildreq", "2.0"), ("dynreq", "1.0")]:
            cls.sums[name, version] = cls.other.add(wheel(cls.dists, name, version))

    def file(self, name, version):
        return {"name": name, "version": version, "file": "%s-%s-py3-none-any.whl" % (name, version),
                "sha256": self.sums[name, version]}

    def build(self, locked, options, wheelhouse=None):
        src = tree(self.path("src"), "proj", "1.0", requires=["buildreq"], dynamic=["dynreq==1.0"],
                   imports=["buildreq"])
        os.makedirs(self.path("out"))
        env = {pip_script.LOCKED: json.dumps(locked)}
        if wheelhouse:
            env[pip_script.WHEELHOUSE] = wheelhouse
        with mock.patch.dict(os.environ, env), captured() as out:
            pip_script.build_tree(src, self.path("out"), options)
        return out.text

    def test_lock_records_both_installs(self):
        src = tree(self.path("src"), "proj", "1.0", requires=["buildreq"], dynamic=["dynreq==1.0"])
        with captured():
            got = pip_script.lock_tree(src, ["--index-url " + self.other.url])
        self.assertEqual(got, [self.file("buildreq", "2.0"), self.file("dynreq", "1.0")])

    def test_a_locked_build_installs_exactly_the_locked_files(self):
        out = self.build([self.file("buildreq", "1.0")], ["--index-url " + self.other.url])
        self.assertEqual(os.listdir(self.path("out")), ["proj-1.0-py3-none-any.whl"], out)
        self.assertNotIn(pip_script.UNHASHED_BUILD_REQUIREMENTS, out)
        # The build environment is ROOT/env (ROOT is the test's own).
        installed = sorted(os.listdir(site_packages(os.path.join(pip_script.ROOT, "env"))))
        self.assertIn("buildreq-1.0.dist-info", installed)
        self.assertNotIn("dynreq-1.0.dist-info", installed, "the hook's requirements were resolved under a lock")

    def test_a_file_the_index_no_longer_serves_is_named(self):
        gone = dict(self.file("buildreq", "1.0"), version="0.9", file="buildreq-0.9-py3-none-any.whl")
        with self.assertRaises(pip_script.Refused) as e:
            self.build([gone], ["--index-url " + self.other.url])
        self.assertIn("imagebuild: error: the index no longer serves buildreq-0.9-py3-none-any.whl (buildreq 0.9, sha256 ",
                      str(e.exception))

    def test_a_file_whose_hash_the_index_does_not_give_is_named(self):
        forged = dict(self.file("buildreq", "1.0"), sha256="0" * 64)
        with self.assertRaises(pip_script.Refused) as e:
            self.build([forged], ["--index-url " + self.other.url])
        self.assertIn("no longer serves buildreq-1.0-py3-none-any.whl (buildreq 1.0, sha256 " + "0" * 64, str(e.exception))

    def test_from_the_wheelhouse_without_an_index(self):
        house = self.path("house")
        os.makedirs(house)
        shutil.copy(os.path.join(self.dists, "buildreq-1.0-py3-none-any.whl"), house)
        # No index at all: the options name none, and pip's configured one
        # does not serve buildreq.
        out = self.build([self.file("buildreq", "1.0")], [], wheelhouse=house)
        self.assertEqual(os.listdir(self.path("out")), ["proj-1.0-py3-none-any.whl"], out)
        os.remove(os.path.join(house, "buildreq-1.0-py3-none-any.whl"))
        shutil.rmtree(self.path("out"))
        shutil.rmtree(pip_script.ROOT)
        with self.assertRaises(pip_script.Refused) as e:
            self.build([self.file("buildreq", "1.0")], [], wheelhouse=house)
        self.assertIn("the builder image's wheelhouse no longer serves buildreq-1.0-py3-none-any.whl", str(e.exception))


class Fetch(ScriptTest):
    """fetch takes the file through pip's finder, falls back to pip download
    when pip's internals do not fit, and never when the file is not the one
    the requirement names or the script refuses the requirement."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="imagebuild-pip-dists-")
        cls.addClassCleanup(shutil.rmtree, folder)
        cls.whl = "probe-1.0-py3-none-any.whl"
        cls.sum = index.add(wheel(folder, "probe", "1.0", ["delta>=2"]))
        cls.sdist_sum = index.add(sdist(folder, "built", "1.0", requires=[]))

    def fetch(self, requirement, record=None):
        with captured() as out:
            pip_script.fetch(self.path("out"), requirement, record)
        return out.text

    def test_a_wheel_through_pips_finder(self):
        out = self.fetch("probe==1.0 --hash=sha256:%s\n" % self.sum)
        self.assertEqual(os.listdir(self.path("out")), [self.whl], out)
        self.assertEqual(sha256(self.path("out", self.whl)), self.sum)
        self.assertIn("imagebuild: downloaded " + self.whl, out)
        self.assertNotIn("fetching with pip download", out)

    def test_an_sdist_is_built(self):
        out = self.fetch("built==1.0 --hash=sha256:%s\n" % self.sdist_sum)
        self.assertEqual(os.listdir(self.path("out")), ["built-1.0-py3-none-any.whl"], out)
        self.assertIn("imagebuild: built built-1.0-py3-none-any.whl", out)

    def test_a_wrong_hash_fails_without_a_fallback(self):
        wrong = "0" * 64
        with captured() as out, self.assertRaises(pip_script.HashMismatch) as e:
            pip_script.fetch(self.path("out"), "probe==1.0 --hash=sha256:%s\n" % wrong)
        self.assertEqual(str(e.exception), "%s has sha256 %s, not a hash the requirements give for it" % (self.whl, self.sum))
        self.assertNotIn("fetching with pip download", out.text)

    def test_no_hash_is_refused_without_a_fallback(self):
        with captured() as out, self.assertRaises(pip_script.Refused) as e:
            pip_script.fetch(self.path("out"), "probe==1.0\n")
        self.assertEqual(str(e.exception),
                         "imagebuild: error: probe has no --hash; its step installs what was locked or resolved only")
        self.assertNotIn("fetching with pip download", out.text)
        self.assertEqual(os.listdir(self.path("out")), [])

    def test_pips_internals_failing_fall_back_to_pip_download(self):
        for name, failure, said in [("an error", AttributeError("no attribute _build_package_finder"),
                                     "no attribute _build_package_finder"),
                                    ("pip exits", SystemExit(2), "2")]:
            with self.subTest(name):
                self.setUp()
                with mock.patch.object(pip_script, "pip_finder", side_effect=failure):
                    out = self.fetch("probe==1.0 --hash=sha256:%s\n" % self.sum)
                self.assertIn("imagebuild: fetching with pip download (%s)" % said, out)
                self.assertEqual(os.listdir(self.path("out")), [self.whl], out)
                self.assertEqual(sha256(self.path("out", self.whl)), self.sum)

    def test_pip_download_checks_the_hash(self):
        with mock.patch.object(pip_script, "pip_finder", side_effect=AttributeError("gone")):
            with captured(), self.assertRaises(subprocess.CalledProcessError):
                pip_script.fetch(self.path("out"), "probe==1.0 --hash=sha256:%s\n" % ("0" * 64))
        self.assertEqual(os.listdir(self.path("out")), [])

    def test_markers_that_exclude_this_platform(self):
        out = self.fetch("probe==1.0 ; python_version < '3' --hash=sha256:%s\n" % self.sum)
        self.assertEqual(os.listdir(self.path("out")), [])
        self.assertIn("imagebuild: nothing to fetch for this platform (environment markers)", out)

    def test_ahead_of_the_resolve_step_records_the_files_sha256(self):
        record = self.path("record", "record.json")
        self.fetch("probe==1.0\n", record)
        with open(record) as f:
            self.assertEqual(json.load(f), {"sha256": self.sum})


class Install(ScriptTest):
    """install puts the one wheel into the venv with hash-checked byte code
    and removes ROOT; ahead of the resolve step (RECORD) it records what it
    fetched, or why it fetched nothing, and does not fail."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="imagebuild-pip-dists-")
        cls.addClassCleanup(shutil.rmtree, folder)
        cls.sum = index.add(wheel(folder, "omega", "1.0", ["delta>=2", "epsilon ; python_version < '3'"]))

    def test_with_a_record(self):
        python = venv(pip_script.VENV)
        record = self.path("record.json")
        with captured() as out:
            pip_script.install("omega==1.0\n", "omega", python, record)
        with open(record) as f:
            got = json.load(f)
        self.assertEqual(got, {"sha256": self.sum, "version": "1.0",
                               "requires": [{"name": "delta", "specifier": ">=2", "extras": []}]})
        pkg = os.path.join(site_packages(pip_script.VENV), "omega")
        self.assertTrue(os.path.isfile(os.path.join(pkg, "__init__.py")), out.text)
        pycs = os.listdir(os.path.join(pkg, "__pycache__"))
        self.assertEqual(len(pycs), 1, pycs)
        with open(os.path.join(pkg, "__pycache__", pycs[0]), "rb") as f:
            flags = int.from_bytes(f.read(8)[4:8], "little")
        self.assertEqual(flags, 0b11, "byte code not compiled with checked-hash invalidation")
        self.assertFalse(os.path.exists(pip_script.ROOT), "ROOT left behind")
        with open(pip_script.REPORT) as f:
            report = json.load(f)
        whl = "omega-1.0-py3-none-any.whl"
        self.assertEqual(report, {"file": whl, "wheel": whl, "compiled": False})

    def test_a_range_records_the_version_fetched(self):
        python = venv(pip_script.VENV)
        record = self.path("record.json")
        with captured():
            pip_script.install("omega>=0.5\n", "omega>=0.5", python, record)
        with open(record) as f:
            got = json.load(f)
        self.assertEqual((got["sha256"], got["version"]), (self.sum, "1.0"))
        self.assertTrue(os.path.isfile(os.path.join(site_packages(pip_script.VENV), "omega", "__init__.py")))

    def test_an_sdist_is_reported_compiled(self):
        folder = self.path("dists")
        os.makedirs(folder)
        sum_ = index.add(sdist(folder, "kappa", "1.0", requires=[]))
        python = venv(pip_script.VENV)
        with captured() as out:
            pip_script.install("kappa==1.0 --hash=sha256:%s\n" % sum_, "kappa", python)
        with open(pip_script.REPORT) as f:
            report = json.load(f)
        self.assertEqual(report, {"file": "kappa-1.0.tar.gz", "wheel": "kappa-1.0-py3-none-any.whl", "compiled": True}, out.text)

    def test_a_failure_is_recorded(self):
        python = venv(pip_script.VENV)
        record = self.path("record.json")
        with captured() as out:
            pip_script.install("missing==1.0\n", "missing", python, record)
        with open(record) as f:
            got = json.load(f)
        self.assertEqual(list(got), ["error"])
        self.assertIn("the build takes its own step once resolved", out.text)

    def test_a_failure_fails_the_step(self):
        python = venv(pip_script.VENV)
        with captured(), self.assertRaises(subprocess.CalledProcessError):
            pip_script.install("missing==1.0 --hash=sha256:%s\n" % ("0" * 64), "missing", python)


class Requires(ScriptTest):
    """requires names the dependencies of a wheel's METADATA whose markers
    hold here, without those of extras."""

    def test_requires(self):
        path = self.path("probe-1.0-py3-none-any.whl")
        files = wheel_files("probe", "1.0", {"probe/__init__.py": ""}, [
            "dep-a>=1.0",
            "Dep_B[fast,cli]==2.0 ; python_version >= '3'",
            "dep-c ; python_version < '3'",
            "dep-d ; extra == 'test'",
            "dep-e (<3,>=2)",
        ])
        # A METADATA below the top folder is not the wheel's.
        files["probe/vendored/other-1.0.dist-info/METADATA"] = "Name: other\nRequires-Dist: nope\n"
        write_zip(path, files)
        self.assertEqual(pip_script.requires(path), [
            {"name": "dep-a", "specifier": ">=1.0", "extras": []},
            {"name": "Dep_B", "specifier": "==2.0", "extras": ["cli", "fast"]},
            {"name": "dep-e", "specifier": "<3,>=2", "extras": []},
        ])

    def test_none(self):
        path = wheel(self.tmp, "probe", "1.0")
        self.assertEqual(pip_script.requires(path), [])
        with zipfile.ZipFile(path) as z:
            self.assertIn("probe-1.0.dist-info/METADATA", z.namelist())


if __name__ == "__main__":
    unittest.main()


class CrossBuild(ScriptTest):
    """Cross-building: the target's platform tags are this interpreter's
    with the target's machine, and a wheel the backend built is checked to
    hold the target's machine code."""

    def test_cross_platforms(self):
        here = __import__("platform").machine()
        tags = pip_script.cross_platforms("aarch64" if here != "aarch64" else "x86_64")
        self.assertTrue(tags)
        self.assertFalse([t for t in tags if t.endswith("_" + here)], tags)
        self.assertIn("linux_" + ("aarch64" if here != "aarch64" else "x86_64"), tags)

    def elf_wheel(self, tag, machine):
        path = self.path("probe-1.0-%s.whl" % tag)
        header = b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)
        write_zip(path, {"probe.so": header, "probe.py": "x = 1\n"})
        return path

    def test_check_machine(self):
        target = pip_script.types.SimpleNamespace(triplet="aarch64-linux-gnu", machine="aarch64")
        pip_script.check_machine(self.elf_wheel("cp311-cp311-linux_aarch64", 183), target)
        pip_script.check_machine(self.elf_wheel("py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64", 183), target)
        with self.assertRaisesRegex(ValueError, "for ELF machine 62, not aarch64's"):
            pip_script.check_machine(self.elf_wheel("cp311-cp311-linux_aarch64", 62), target)
        with self.assertRaisesRegex(ValueError, "not a wheel for aarch64"):
            pip_script.check_machine(self.elf_wheel("cp311-cp311-linux_x86_64", 183), target)
