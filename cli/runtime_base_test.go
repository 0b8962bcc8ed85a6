package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/verify"
)

// TestRuntimeBaseRebuildsTheRuntimeAlone compiles asyncpg and hiredis from
// their sdists with the python-slim recipe on the Debian test base, pushed
// through a proxy that records uploads; then builds again on the same
// daemon with --runtime-base, the test base plus one layer (a base patched
// for a CVE). The second build runs no builder step (each is reported
// cached, the pip steps among them); its image's layers are the patched
// base's, then the first image's own layers, each the same blob: the
// venv's and the app's, and the account's too, which is made from the
// runtime base's user and group files, which the patch leaves as they are;
// and its push uploads the patch's layer and the new config alone (the
// manifest is put, not uploaded as a blob). The image passes verify, its
// venv built for the patched base's Python, and imports both modules as its
// own user. The compile being reproducible, a whole rebuild on the patched
// base (--base) gives those same layers and uploads: the cached steps are
// what tell the runtime's rebuild alone from it.
func TestRuntimeBaseRebuildsTheRuntimeAlone(t *testing.T) {
	env := testenv.Get(t)
	d := testenv.StartTLSDaemon(t)
	addr := "unix://" + d.Socket
	pipconf := testenv.PipConf(t, testenv.RealIndex(t))
	ctxDir := testenv.ExampleContext(t, "asyncpg==0.30.0\nhiredis==2.3.2\n")
	// Pushed through the proxy, read from the registry behind it.
	rec := testenv.RecordUploads(t, env.Registry, "127.0.0.2")
	pushed, repo := rec.Host+"/imagebuild-test/runtime-base", env.Registry+"/imagebuild-test/runtime-base"
	out := t.TempDir()

	_, stderr, code := buildCompiled(t, env, addr, ctxDir, pipconf, filepath.Join(out, "first.oci.tar"), "-t", pushed+":first", "--push")
	if code != 0 {
		t.Fatalf("first build exited %d\n%s", code, stderr)
	}
	first := testenv.RegistryImage(t, repo+":first")
	baseLayers := testenv.LayerDigests(t, testenv.RegistryPlatformImage(t, env.Base.String(), testenv.Platform))
	firstLayers := testenv.LayerDigests(t, first)
	if !slices.Equal(firstLayers[:len(baseLayers)], baseLayers) {
		t.Fatalf("the first image's layers %v do not start with the base's %v", firstLayers, baseLayers)
	}
	own := firstLayers[len(baseLayers):]

	patched, patchLayer := env.PatchedBase(t, env.Base, "imagebuild-test/debian-patched:bookworm", "CVE-0000-0001 fixed")
	rec.Reset()
	_, stderr, code = buildCompiled(t, env, addr, ctxDir, pipconf, filepath.Join(out, "second.oci.tar"),
		"--runtime-base", patched.String(), "--progress", "rawjson", "-t", pushed+":second", "--push")
	if code != 0 {
		t.Fatalf("build with --runtime-base exited %d\n%s", code, lastLines(stderr, 10))
	}
	uploaded, mounted, manifests := rec.Uploaded(), rec.Mounted(), rec.Manifests()
	t.Logf("uploaded %v, mounted %v, manifests %v", uploaded, mounted, manifests)

	// No builder step ran: the pip steps among them are cached.
	steps := progressSteps(t, stderr)
	var pip, ran []string
	for name, v := range steps {
		if !strings.HasPrefix(name, "builder: ") {
			if !v.Cached {
				ran = append(ran, name)
			}
			continue
		}
		if !v.Cached {
			t.Errorf("builder step %q ran again on a new runtime base", name)
		}
		if strings.HasPrefix(name, "builder: pip wheel and install ") {
			pip = append(pip, name)
		}
	}
	slices.Sort(pip)
	slices.Sort(ran)
	if len(pip) != 2 {
		t.Errorf("pip steps in the progress: %q, want asyncpg's and hiredis's", pip)
	}
	t.Logf("steps that ran: %q", ran)

	// The patched base's layers, then the first image's own, blob for blob.
	second := testenv.RegistryImage(t, repo+":second")
	secondLayers := testenv.LayerDigests(t, second)
	patchedLayers := testenv.LayerDigests(t, testenv.RegistryImage(t, patched.String()))
	want := append(slices.Clone(patchedLayers), own...)
	if !slices.Equal(secondLayers, want) {
		t.Errorf("layers on the patched runtime base:\n%v\nwant the patched base's, then the first image's own:\n%v", secondLayers, want)
	}

	// The push uploaded the patch's layer and the config, nothing else.
	cfg, err := second.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if wantUp := slices.Sorted(slices.Values([]string{patchLayer, cfg.String()})); !slices.Equal(uploaded, wantUp) {
		t.Errorf("the push uploaded %v, want the patch's layer and the config alone: %v", uploaded, wantUp)
	}
	for _, l := range own {
		if slices.Contains(uploaded, l) || slices.Contains(mounted, l) {
			t.Errorf("the push sent the first image's layer %s again", l)
		}
	}

	report, err := verify.Image(context.Background(), second, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report.WriteText(&b)
	if !report.Passed() || !strings.Contains(b.String(), "pass python abi: ") {
		t.Errorf("verify on the patched runtime base (want every check passed, the python abi check among them):\n%s", b.String())
	}
	got, err := env.Run(context.Background(), repo+":second", "python", "-c",
		"import os, asyncpg.protocol.protocol, hiredis; print(os.getuid(), open('/usr/share/imagebuild-patch/note').read().strip())")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "1000 CVE-0000-0001 fixed"; strings.TrimSpace(got) != want {
		t.Errorf("the image printed %q, want %q", got, want)
	}
}
