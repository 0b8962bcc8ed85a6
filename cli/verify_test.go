package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
)

// TestVerifyGoodImage builds the recipe and verifies it in every form
// verify reads: OCI tarball, docker tarball, OCI layout and registry ref.
func TestVerifyGoodImage(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	ref := env.Registry + "/imagebuild-test/app:verify"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--verify",
		"-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"),
		"-o", "type=docker,dest="+filepath.Join(out, "image.docker.tar"),
		"-t", ref, "--push")
	if code != 0 {
		t.Fatalf("build --verify exited %d\n%s\n%s", code, stdout, stderr)
	}
	layoutDir := filepath.Join(out, "layout")
	f, err := os.Open(filepath.Join(out, "image.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.Extract(f, layoutDir, oci.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, target := range []string{filepath.Join(out, "image.oci.tar"), filepath.Join(out, "image.docker.tar"), layoutDir, ref} {
		stdout, stderr, code := cli(t, "verify", target)
		if code != 0 {
			t.Errorf("verify %s exited %d\n%s%s", target, code, stdout, stderr)
			continue
		}
		for _, line := range []string{"pass non-root user", "pass no compilers", "skip shared libraries of the venv and app resolve\n       no ELF file", "pass venv and app owned", "pass base layers first", "pass no package-manager"} {
			if !strings.Contains(stdout, line) {
				t.Errorf("verify %s: no %q in\n%s", target, line, stdout)
			}
		}
	}
}

// badImage builds an image on the test base through BuildKit and returns its
// OCI tarball.
func badImage(t *testing.T, env *testenv.Env, user string, root func(llb.State) llb.State) string {
	t.Helper()
	base := llb.Image(env.Base.String(), llb.Platform(testenv.Platform))
	img := graph.Image{Platform: testenv.Platform, Root: root(base), Base: env.Base, Config: graph.Config{User: user}}
	dest := filepath.Join(t.TempDir(), "image.tar")
	if _, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: dest}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	return dest
}

func TestVerifyBadImages(t *testing.T) {
	env := testenv.Get(t)
	file := func(p, body string, mode os.FileMode) func(llb.State) llb.State {
		return func(s llb.State) llb.State {
			return s.File(llb.Mkdir(filepath.Dir(p), 0o755, llb.WithParents(true)).Mkfile(p, mode, []byte(body)))
		}
	}
	tests := []struct {
		name     string
		user     string
		root     func(llb.State) llb.State
		evidence string
	}{
		{name: "runs as root", user: "", root: func(s llb.State) llb.State { return s }, evidence: "no User"},
		{name: "gcc", user: "nobody", root: file("/usr/bin/gcc", "#!/bin/sh\n", 0o755), evidence: "/usr/bin/gcc"},
		{name: "pip.conf with a password", user: "nobody",
			root:     file("/etc/pip.conf", "[global]\nindex-url = https://ci:hunter2@pypi.example.com/simple/\n", 0o644),
			evidence: "/etc/pip.conf (pip config with a password)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tarball := badImage(t, env, tt.user, tt.root)
			stdout, stderr, code := cli(t, "verify", tarball)
			if code != 1 {
				t.Errorf("verify exited %d, want 1\n%s", code, stdout)
			}
			if !strings.Contains(stdout, tt.evidence) || !strings.Contains(stderr, "verify failed") {
				t.Errorf("verify does not name %q:\n%s%s", tt.evidence, stdout, stderr)
			}
		})
	}
}

// TestBuildVerifyPushesNothing builds an app whose compiled extension needs
// a library the image lacks: build --verify fails naming it, and nothing
// reaches the registry. The same extension with its library in an
// $ORIGIN-relative folder passes.
func TestBuildVerifyPushesNothing(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	ext := testenv.ELF(t, testenv.LibNeedsGone)
	if err := os.WriteFile(filepath.Join(ctxDir, "app", "_ext.so"), ext, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := env.Registry + "/imagebuild-test/app:unverified"
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "--verify", "-t", ref, "--push",
		"-o", "type=oci,dest="+filepath.Join(out, "image.tar"))
	if code != 1 {
		t.Errorf("build --verify exited %d, want 1", code)
	}
	if !strings.Contains(stdout, "/app/app/_ext.so needs libimagebuild_gone.so.1") || !strings.Contains(stderr, "nothing was written or pushed") {
		t.Errorf("build --verify does not name the missing library:\n%s%s", stdout, stderr)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(r); err == nil {
		t.Errorf("%s was pushed although verify failed", ref)
	}
	assertNoOutputs(t, out)

	// With the library in a folder its RUNPATH names relative to $ORIGIN.
	ctxDir = appContext(t)
	withOrigin := testenv.ELF(t, testenv.LibNeedsDep)
	dep := testenv.ELF(t, testenv.LibDep)
	for p, body := range map[string][]byte{"app/pkg/_ext.so": withOrigin, "app/ext.libs/libimagebuild_dep.so.1": dep} {
		if err := os.MkdirAll(filepath.Join(ctxDir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, p), body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code = cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "--verify")
	if code != 0 {
		t.Errorf("build --verify with an $ORIGIN library exited %d\n%s%s", code, stdout, stderr)
	}
}
