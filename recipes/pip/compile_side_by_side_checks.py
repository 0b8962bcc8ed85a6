"""The tests of imagebuild-pip.py's compile_side_by_side, which replaces
distutils' CCompiler.compile with one that calls its internals
(_setup_compile, _get_cc_args, _compile): they fail when the installed
setuptools' distutils no longer has them as the replacement calls them.
test_private_api.py runs them in an interpreter of their own, which
imports setuptools first, as a build's hook does."""

import inspect
import os
import shutil
import unittest

from fixtures import ScriptTest, pip_script


class CompileSideBySide(ScriptTest):
    """compile_side_by_side: distutils' CCompiler._setup_compile,
    _get_cc_args and _compile, as the replaced compile calls them."""

    def setUp(self):
        super().setUp()
        try:
            import setuptools  # noqa: F401
        except ImportError:
            self.fail("setuptools is not installed (apt-get install python3-setuptools): "
                      "the test checks its distutils")
        from distutils import ccompiler
        self.base = ccompiler.CCompiler
        old = self.base.__dict__["compile"]
        self.addCleanup(setattr, self.base, "compile", old)

    def test_the_internals_it_calls(self):
        self.assertTrue(pip_script.compile_side_by_side(2), "distutils' compiler class was left as it was")
        self.assertIsNot(self.base.compile, self.base._compile)
        params = lambda f: list(inspect.signature(f).parameters)
        self.assertEqual(params(self.base._setup_compile)[:7],
                         ["self", "outdir", "macros", "incdirs", "sources", "depends", "extra"])
        self.assertEqual(params(self.base._get_cc_args), ["self", "pp_opts", "debug", "before"])
        self.assertEqual(params(self.base._compile)[:7],
                         ["self", "obj", "src", "ext", "cc_args", "extra_postargs", "pp_opts"])

    def test_each_source_once_objects_in_order(self):
        self.assertTrue(pip_script.compile_side_by_side(4))
        from distutils.ccompiler import new_compiler

        calls = []

        class Recording(type(new_compiler())):
            def _compile(self, obj, src, ext, cc_args, extra_postargs, pp_opts):
                calls.append((obj, src, ext, "-DX=1" in pp_opts, cc_args[-1] if cc_args else None))

        cc = Recording()
        sources = ["m/%s.c" % n for n in "dcba"]
        objects = cc.compile(sources, output_dir=self.path("build"), macros=[("X", "1")])
        self.assertEqual(objects, [self.path("build", "m", "%s.o" % n) for n in "dcba"])
        self.assertEqual(sorted(calls), sorted((o, s, ".c", True, "-c") for o, s in zip(objects, sources)))

    @unittest.skipUnless(shutil.which("cc"), "no C compiler")
    def test_with_the_c_compiler(self):
        self.assertTrue(pip_script.compile_side_by_side(2))
        from distutils.ccompiler import new_compiler

        sources = []
        for n in "ab":
            sources.append(self.path("%s.c" % n))
            with open(sources[-1], "w") as f:
                f.write("int %s(void) { return VALUE; }\n" % n)
        cc = new_compiler()
        objects = cc.compile(sources, output_dir=self.path("build"), macros=[("VALUE", "7")])
        self.assertEqual([os.path.basename(o) for o in objects], ["a.o", "b.o"])
        for o in objects:
            self.assertGreater(os.path.getsize(o), 0)


if __name__ == "__main__":
    unittest.main()
