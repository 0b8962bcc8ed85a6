package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/moby/buildkit/client"
)

// These tests check the venv as a graph: a step per distribution, cached
// across machines by a registry cache, and a layer per distribution.

// TestRequirementsEditOnFreshDaemon is a CI runner's build after a one-line
// requirements edit: a daemon exports the registry cache (mode=max) of a
// build that compiled asyncpg from its sdist; a second, fresh daemon imports
// it and builds with hiredis added. asyncpg is not compiled again, hiredis
// is, and the second image's asyncpg layer is the first's.
func TestRequirementsEditOnFreshDaemon(t *testing.T) {
	env := testenv.Get(t)
	pipconf := testenv.PipConf(t, testenv.RealIndex(t))
	cache := env.Registry + "/imagebuild-test/venv-cache:main"
	first, second := testenv.StartTLSDaemon(t), testenv.StartTLSDaemon(t)

	ctxDir := testenv.ExampleContext(t, "asyncpg==0.30.0\n")
	dest1 := filepath.Join(t.TempDir(), "first.oci.tar")
	_, stderr, code := buildCompiled(t, env, "unix://"+first.Socket, ctxDir, pipconf, dest1,
		"--cache-to", "type=registry,ref="+cache+",mode=max")
	if code != 0 {
		t.Fatalf("first build exited %d: %s", code, stderr)
	}

	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), []byte("asyncpg==0.30.0\nhiredis==2.3.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest2 := filepath.Join(t.TempDir(), "second.oci.tar")
	var stdout, errout bytes.Buffer
	code = Run(context.Background(), []string{"build", "slim-compile", "--addr", "unix://" + second.Socket, "--context", ctxDir,
		"--base", env.Base.String(), "--secret", "id=pipconf,src=" + pipconf, "--progress", "rawjson",
		"--source-date-epoch", "1700000000", "-o", "type=oci,dest=" + dest2, "--cache-from", "type=registry,ref=" + cache},
		&stdout, &errout, slimCompile)
	if code != 0 {
		t.Fatalf("second build exited %d: %s", code, lastLines(errout.String(), 5))
	}
	steps := progressSteps(t, errout.String())
	for name, cached := range map[string]bool{
		// Pinned in a file that is not locked: built ahead of the resolve step.
		"builder: pip wheel and install asyncpg 0.30.0, while resolving": true,
		"builder: pip wheel and install hiredis 2.3.2, while resolving":  false,
	} {
		v, ok := steps[name]
		if !ok {
			t.Errorf("no step %q in the second build's progress", name)
			continue
		}
		if v.Cached != cached {
			t.Errorf("step %q: cached %v, want %v", name, v.Cached, cached)
		}
	}

	// Every requirement is pinned, and neither names a dependency: the
	// pins are the set, and no resolve step runs.
	if _, ok := steps["builder: pip resolve -r requirements.txt"]; ok {
		t.Error("a resolve step ran for requirements whose pins close over their dependencies")
	}

	layers := func(path string) map[string]string {
		img := testenv.OCIImage(t, path)
		return layersByName(t, img)
	}
	l1, l2 := layers(dest1), layers(dest2)
	if l1["pip: asyncpg 0.30.0"] == "" || l1["pip: asyncpg 0.30.0"] != l2["pip: asyncpg 0.30.0"] {
		t.Errorf("asyncpg's layer: %q in the first image, %q in the second; want one layer, the same", l1["pip: asyncpg 0.30.0"], l2["pip: asyncpg 0.30.0"])
	}
	if l2["pip: hiredis 2.3.2"] == "" {
		t.Errorf("the second image has no layer for hiredis: %v", l2)
	}
}

// layersByName maps the history name of each layer img adds to its digest.
func layersByName(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	i := 0
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		if i >= len(ls) {
			break
		}
		d, err := ls[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		out[h.CreatedBy] = d.String()
		i++
	}
	return out
}

// TestOneLayerPerDistribution bumps one of two distributions (a large
// wheel and a small one): the image's layers are the same but for the
// bumped distribution's, named by it in the history, and the app's, which
// holds the edited requirements file, so a push after the bump uploads
// those two layers alone.
func TestOneLayerPerDistribution(t *testing.T) {
	env := testenv.Get(t)
	big := make([]byte, 8<<20)
	rand.Read(big)
	files := map[string][]byte{}
	for _, w := range []struct {
		name, version string
		files         map[string][]byte
	}{
		{"imagebuild-bigdep", "1.0", map[string][]byte{"imagebuild_bigdep/data.bin": big, "imagebuild_bigdep/__init__.py": nil}},
		{"imagebuild-probe", "1.0", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 1\n")}},
		{"imagebuild-probe", "1.1", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 2\n")}},
	} {
		n, dt := testenv.Wheel(t, w.name, w.version, w.files)
		files[n] = dt
	}
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:wheels@"+testenv.PrivateIndex(t, "wheels", files)+"/simple/\n"))
	build := func(requirements string) map[string]string {
		ctxDir := testenv.ExampleContext(t, requirements)
		dest := filepath.Join(t.TempDir(), "image.oci.tar")
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir, "--base", env.Base.String(),
			"--secret", "id=pipconf,src="+pipconf, "--progress", "quiet", "--source-date-epoch", "1700000000", "-o", "type=oci,dest="+dest)
		if code != 0 {
			t.Fatalf("build exited %d: %s", code, stderr)
		}
		return layersByName(t, testenv.OCIImage(t, dest))
	}
	before := build("imagebuild-bigdep==1.0\nimagebuild-probe==1.0\n")
	after := build("imagebuild-bigdep==1.0\nimagebuild-probe==1.1\n")
	var changed []string
	for name, d := range after {
		if before[name] != d {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	// The app layer holds the build context, requirements.txt included,
	// which the bump edits.
	if want := []string{"pip: imagebuild-probe 1.1", "runtime: copy build context to /app"}; !slices.Equal(changed, want) {
		t.Errorf("layers new after the bump: %q, want %q alone\nbefore: %v\nafter: %v", changed, want, before, after)
	}
	if before["pip: imagebuild-bigdep 1.0"] == "" {
		t.Errorf("no layer named for imagebuild-bigdep in the history: %v", before)
	}
	for name := range after {
		if strings.Contains(name, "imagebuild-probe") && strings.Contains(name, "bigdep") {
			t.Errorf("a layer holds both distributions: %q", name)
		}
	}
}

// TestLayoutUpdatedInPlace writes an OCI layout, then fails a build into
// it, then writes it again after an app edit: the failed build leaves the
// layout as it was; the new one keeps the blobs that did not change (the
// same files on disk, not written again), adds the new ones and drops what
// its index no longer reaches.
func TestLayoutUpdatedInPlace(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	out := t.TempDir()
	dest := filepath.Join(out, "layout")
	build := func(dir string) int {
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", dir, "--base", env.Base.String(),
			"--progress", "quiet", "--source-date-epoch", "1700000000", "-o", "type=oci,tar=false,dest="+dest)
		if code != 0 {
			t.Logf("build of %s: %s", dir, stderr)
		}
		return code
	}
	blobs := func() map[string]os.FileInfo {
		entries, err := os.ReadDir(filepath.Join(dest, "blobs", "sha256"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]os.FileInfo{}
		for _, e := range entries {
			fi, err := os.Stat(filepath.Join(dest, "blobs", "sha256", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m[e.Name()] = fi
		}
		return m
	}
	index := func() string {
		dt, err := os.ReadFile(filepath.Join(dest, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(dt)
	}
	if build(ctxDir) != 0 {
		t.Fatal("first build failed")
	}
	index1, blobs1 := index(), blobs()

	if build(failingContext(t)) != 1 {
		t.Fatal("the failing build did not fail")
	}
	if index() != index1 || len(blobs()) != len(blobs1) {
		t.Errorf("a failed build changed the layout")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("the output folder holds %v, want the layout alone", entries)
	}

	if err := os.WriteFile(filepath.Join(ctxDir, "app", "edit.py"), []byte("EDITED = True\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if build(ctxDir) != 0 {
		t.Fatal("build after the edit failed")
	}
	blobs2 := blobs()
	if index() == index1 {
		t.Error("the layout's index did not change after the app edit")
	}
	kept, added := 0, 0
	for name, fi := range blobs2 {
		if old, ok := blobs1[name]; ok {
			kept++
			if !os.SameFile(old, fi) {
				t.Errorf("blob %s is the same but was written again", name)
			}
		} else {
			added++
		}
	}
	if kept == 0 || added == 0 {
		t.Errorf("%d blobs kept and %d added, want some of each", kept, added)
	}
	// Every blob left is reached from the index: verify reads the layout,
	// and no blob of the old app layer, config and manifest is left.
	if len(blobs2) != len(blobs1) {
		t.Errorf("%d blobs before, %d after an edit that replaces one layer, its config and manifest: want as many", len(blobs1), len(blobs2))
	}
}

// TestLockedHashChecked builds a locked requirement (pinned with its hash)
// whose file the private index serves: the step fetches it through pip's
// finder, without pip download (the progress says so), and installs it; the
// same requirement with another hash fails the build in the step, naming the
// file and its real hash, and writes nothing.
func TestLockedHashChecked(t *testing.T) {
	env := testenv.Get(t)
	whl, dt := testenv.Wheel(t, "imagebuild-probe", "1.0", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 1\n")})
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:locked@"+testenv.PrivateIndex(t, "locked", map[string][]byte{whl: dt})+"/simple/\n"))
	sum := fmt.Sprintf("%x", sha256.Sum256(dt))
	build := func(hash string) (stderr string, code int, dest string) {
		dest = filepath.Join(t.TempDir(), "image.oci.tar")
		_, stderr, code = cli(t, "build", "python-alpine", "--addr", env.Addr, "--context",
			testenv.ExampleContext(t, "imagebuild-probe==1.0 --hash=sha256:"+hash+"\n"), "--base", env.Base.String(),
			"--secret", "id=pipconf,src="+pipconf, "--progress", "plain", "--no-cache", "-o", "type=oci,dest="+dest)
		return stderr, code, dest
	}
	stderr, code, dest := build(sum)
	if code != 0 {
		t.Fatalf("locked build exited %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "imagebuild: downloaded "+whl) || strings.Contains(stderr, "fetching with pip download") {
		t.Errorf("the step did not fetch %s through pip's finder:\n%s", whl, stderr)
	}
	if _, ok := layersByName(t, testenv.OCIImage(t, dest))["pip: imagebuild-probe 1.0"]; !ok {
		t.Errorf("no layer pip: imagebuild-probe 1.0 in the image")
	}
	wrong := strings.Repeat("0", 64)
	stderr, code, dest = build(wrong)
	if code != 1 || !strings.Contains(stderr, whl+" has sha256 "+sum+", not a hash the requirements give for it") {
		t.Errorf("a wrong hash: exit %d, want 1 naming the file and its sha256 %s:\n%s", code, sum, stderr)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a failed build wrote %s", dest)
	}
}

// TestEditResolvesWhatThePinsLeaveOut: a file that pins every requirement
// gains a pin whose wheel depends on an sdist with a C extension, which
// depends on two wheels. The build resolves those three alone, with the
// pins as constraints, not the whole file again, meanwhile building the
// sdist (the newest release the pin's wheel allows), and the image's venv is
// the one a resolve of the whole file gives: the same layers, byte for
// byte (the app's aside, which holds the requirements file).
func TestEditResolvesWhatThePinsLeaveOut(t *testing.T) {
	env := testenv.Get(t)
	index := testenv.ServeRealIndex(t)
	for name, data := range testenv.EditShape(t) {
		index.Add(name, data)
	}
	pipconf := testenv.PipConf(t, index.PipConf())
	build := func(requirements string) (map[string]client.Vertex, map[string]string) {
		t.Helper()
		ctxDir := testenv.ExampleContext(t, requirements)
		dest := filepath.Join(t.TempDir(), "image.oci.tar")
		_, stderr, code := buildCompiled(t, env, env.Addr, ctxDir, pipconf, dest, "--progress", "rawjson")
		if code != 0 {
			t.Fatalf("build of %q exited %d: %s", requirements, code, lastLines(stderr, 5))
		}
		return progressSteps(t, stderr), layersByName(t, testenv.OCIImage(t, dest))
	}
	steps, narrow := build("hiredis==2.3.2\nimagebuild-edit-top==1.0\n")
	if _, ok := steps["builder: pip resolve what the pins leave out: imagebuild-edit-ext>=1.0"]; !ok {
		t.Errorf("no step resolving the pin's dependency alone; steps: %v", slices.Sorted(maps.Keys(steps)))
	}
	if _, ok := steps["builder: pip resolve -r requirements.txt"]; ok {
		t.Error("the whole file was resolved")
	}
	// The sdist the pin brings is built meanwhile, and taken.
	if _, ok := steps["builder: pip wheel and install imagebuild-edit-ext>=1.0, while resolving what the pins leave out"]; !ok {
		t.Errorf("the dependency was not built side by side with its resolve; steps: %v", slices.Sorted(maps.Keys(steps)))
	}
	if _, ok := steps["builder: pip wheel and install imagebuild-edit-ext 1.0"]; ok {
		t.Error("the dependency was built again after its resolve")
	}
	// Not pinned: the whole file is resolved.
	steps, whole := build("hiredis==2.3.2\nimagebuild-edit-top>=1.0\n")
	if _, ok := steps["builder: pip resolve -r requirements.txt"]; !ok {
		t.Errorf("no resolve step for a file that does not pin every requirement; steps: %v", slices.Sorted(maps.Keys(steps)))
	}
	const app = "runtime: copy build context to /app"
	if narrow[app] == "" || narrow[app] == whole[app] {
		t.Fatalf("the app's layers: %q and %q; want two (the requirements files differ)", narrow[app], whole[app])
	}
	delete(narrow, app)
	delete(whole, app)
	for _, name := range []string{"pip: imagebuild-edit-a 1.0", "pip: imagebuild-edit-b 1.0", "pip: imagebuild-edit-ext 1.0", "pip: imagebuild-edit-top 1.0", "pip: hiredis 2.3.2"} {
		if narrow[name] == "" {
			t.Errorf("the image has no layer %q: %v", name, narrow)
		}
	}
	if !maps.Equal(narrow, whole) {
		t.Errorf("the venv resolved around the pins differs from the whole file's:\n%v\n%v", narrow, whole)
	}
}
