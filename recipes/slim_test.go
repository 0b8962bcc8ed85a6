package recipes_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
)

// These tests compile a real C extension: the python-slim recipe on the
// Debian test base, whose builder stage installs gcc with apt-get from
// Debian's mirror. The test base's Python is Debian's, whose headers come
// with python3-dev (python:3.12-slim ships its own under /usr/local), so
// the tests add it to the build packages.

func TestMain(m *testing.M) { testenv.Main(m) }

var slimTestPackages = []string{"gcc", "libc6-dev", "python3-dev", "libpq-dev"}

// buildSlim builds the example with r on the test base, with pipconf as the
// pip config secret, into an OCI tarball, and pushes it to ref when set.
func buildSlim(t *testing.T, env *testenv.Env, r recipes.PythonSlim, requirements string, pipconf []byte, ref string) string {
	t.Helper()
	ctxDir := testenv.ExampleContext(t, requirements)
	bctx, err := graph.LoadContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := r.Image(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	outputs := []output.Output{{Type: client.ExporterOCI, Dest: dest}}
	if ref != "" {
		outputs = append(outputs, output.Output{Type: client.ExporterImage, Attrs: map[string]string{"name": ref, "push": "true"}})
	}
	if _, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		Outputs: outputs,
		Secrets: map[string]string{recipes.PipConfSecret: testenv.PipConf(t, pipconf)},
	}, nil); err != nil {
		t.Fatalf("build the example with python-slim: %v", err)
	}
	return dest
}

func verifyTarball(t *testing.T, tarball string) *verify.Report {
	t.Helper()
	r, err := verify.Image(context.Background(), testenv.OCIImage(t, tarball), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reportText(r *verify.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

func imageSize(t *testing.T, tarball string) int64 {
	t.Helper()
	var n int64
	for _, s := range testenv.LayerSizes(t, testenv.OCIImage(t, tarball)) {
		n += s
	}
	return n
}

func TestPythonSlimCompilesExtension(t *testing.T) {
	env := testenv.Get(t)
	ref := env.Registry + "/imagebuild-test/incident-tracker:slim"
	r := recipes.PythonSlim{Packages: slimTestPackages}
	tarball := buildSlim(t, env, r, "incident-severity==1.0\n", testenv.SeverityIndex(t, false), ref)

	files := testenv.Files(t, testenv.OCIImage(t, tarball))
	var ext string
	for p, f := range files {
		if strings.HasPrefix(p, "opt/venv/") && strings.Contains(p, "incident_severity") && strings.HasSuffix(p, ".so") {
			ext = p
			if !strings.HasPrefix(string(f.Data), "\x7fELF") {
				t.Errorf("%s is not an ELF file", p)
			}
		}
	}
	if ext == "" {
		t.Fatal("no compiled incident_severity module in /opt/venv")
	}
	t.Logf("compiled extension: /%s", ext)

	report := verifyTarball(t, tarball)
	if !report.Passed() {
		t.Errorf("verify fails on the python-slim example:\n%s", reportText(report))
	}

	got, err := env.Run(context.Background(), ref, "python", "-c",
		"import os, incident_severity; print(os.getuid(), incident_severity.score(1, 2))")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.TrimSpace(got) != "1000 2" {
		t.Errorf("the extension in the runtime printed %q, want \"1000 2\"", got)
	}
	// The service itself, as UID 1000, answering on loopback.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	script := fmt.Sprintf(`PORT=%d python -m app & pid=$!
for i in $(seq 50); do
  python -c 'import json, urllib.request as u; r = u.urlopen(u.Request("http://127.0.0.1:%d/incidents", data=json.dumps({"impact": 1, "urgency": 1}).encode())); print(json.load(r)["priority"])' && break
  sleep 0.2
done
kill $pid`, port, port)
	got, err = env.Run(context.Background(), ref, "/bin/sh", "-c", script)
	if err != nil {
		t.Fatalf("run the service: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(got), "1") {
		t.Errorf("the service answered %q, want priority 1", got)
	}

	// What the multi-stage build saves: the builder stage as an image.
	ctxDir := testenv.ExampleContext(t, "incident-severity==1.0\n")
	bctx, err := graph.LoadContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	builderTar := filepath.Join(t.TempDir(), "builder.tar")
	st := r.BuilderStage(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	if _, err := builder.Build(context.Background(), env.Client, []graph.Image{{Platform: testenv.Platform, Root: st, Base: env.Base, Context: bctx}},
		builder.Options{Outputs: []output.Output{{Type: client.ExporterOCI, Dest: builderTar}}}, nil); err != nil {
		t.Fatal(err)
	}
	rt, bd := imageSize(t, tarball), imageSize(t, builderTar)
	t.Logf("runtime image %d bytes compressed, builder stage %d bytes compressed", rt, bd)
	if rt >= bd {
		t.Errorf("runtime image (%d bytes) is not smaller than the builder stage (%d bytes)", rt, bd)
	}
	builderFiles := testenv.Files(t, testenv.OCIImage(t, builderTar))
	if _, ok := builderFiles["usr/bin/gcc"]; !ok {
		t.Error("the builder stage has no /usr/bin/gcc: the extension was not compiled there")
	}
}

func TestRuntimeLibraryClosure(t *testing.T) {
	env := testenv.Get(t)
	pipconf := testenv.SeverityIndex(t, true)
	r := recipes.PythonSlim{Packages: slimTestPackages}
	report := verifyTarball(t, buildSlim(t, env, r, "incident-severity==1.1\n", pipconf, ""))
	text := reportText(report)
	if report.Passed() || !strings.Contains(text, "needs libpq.so.5") {
		t.Fatalf("an extension linking libpq, without libpq in the runtime: verify does not name libpq.so.5:\n%s", text)
	}
	r.RuntimePackages = []string{"libpq5"}
	ref := env.Registry + "/imagebuild-test/incident-tracker:libpq"
	report = verifyTarball(t, buildSlim(t, env, r, "incident-severity==1.1\n", pipconf, ref))
	if !report.Passed() {
		t.Errorf("with libpq5 in RuntimePackages, verify still fails:\n%s", reportText(report))
	}
	got, err := env.Run(context.Background(), ref, "python", "-c", "import incident_severity; print(incident_severity.score(3, 3))")
	if err != nil || strings.TrimSpace(got) != "5" {
		t.Errorf("import with libpq5 installed: %q, %v", got, err)
	}
}

// exampleWithProject is the example service's context with its C extension
// as a local project, native/, which requirements name as ./native.
func exampleWithProject(t *testing.T, requirements string) string {
	t.Helper()
	dir := testenv.ExampleContext(t, requirements)
	src := filepath.Join("..", "examples", "incident-tracker", "native")
	if err := os.CopyFS(filepath.Join(dir, "native"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLocalProject builds the example's C extension from its own folder in
// the context (./native in the requirements), with no private index
// serving it: its build requirements (setuptools) come from an index as in
// pip's isolated builds. The requirements are not locked (wheel, a
// name alone), so they are resolved in the build with the project mounted,
// and the project is left to a step of its own.
func TestLocalProject(t *testing.T) {
	env := testenv.Get(t)
	files := testenv.BuildBackend(t)
	addr := testenv.PrivateIndex(t, "backend-token", files)
	pipconf := []byte("[global]\nindex-url = http://ci:backend-token@" + addr + "/simple/\n")
	ctxDir := exampleWithProject(t, "./native\nwheel\n")
	bctx, err := graph.LoadContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	r := recipes.PythonSlim{Packages: slimTestPackages}
	img, err := r.Image(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	if err != nil {
		t.Fatal(err)
	}
	if img.Expand == nil {
		t.Fatal("requirements with a name alone are not resolved in the build")
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	ref := env.Registry + "/imagebuild-test/incident-tracker:local-project"
	if _, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: dest}, {Type: client.ExporterImage, Attrs: map[string]string{"name": ref, "push": "true"}}},
		Secrets: map[string]string{recipes.PipConfSecret: testenv.PipConf(t, pipconf)},
	}, nil); err != nil {
		t.Fatalf("build the example with ./native: %v", err)
	}
	image := testenv.OCIImage(t, dest)
	var ext string
	for p, f := range testenv.Files(t, image) {
		switch {
		case strings.HasPrefix(p, "app/native"):
			t.Errorf("/%s: the project's folder is in /app; it is built into the venv, not copied", p)
		case strings.HasSuffix(p, "direct_url.json"):
			t.Errorf("/%s records where pip installed from: %s", p, f.Data)
		case strings.HasPrefix(p, "opt/venv/") && strings.Contains(p, "incident_severity") && strings.HasSuffix(p, ".so"):
			ext = p
		}
	}
	if ext == "" {
		t.Fatal("no compiled incident_severity module in /opt/venv")
	}
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range cf.History {
		if strings.HasPrefix(h.CreatedBy, "pip: ") {
			names = append(names, h.CreatedBy)
		}
	}
	if !slices.Contains(names, "pip: ./native") || len(names) != 2 {
		t.Errorf("venv layers %q, want wheel's and ./native's", names)
	}
	report := verifyTarball(t, dest)
	if !report.Passed() {
		t.Errorf("verify fails on the local project's image:\n%s", reportText(report))
	}
	got, err := env.Run(context.Background(), ref, "python", "-c", "import incident_severity; print(incident_severity.score(1, 2))")
	if err != nil || strings.TrimSpace(got) != "2" {
		t.Errorf("the extension built from ./native printed %q (%v), want 2", got, err)
	}
}
