package cli

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

// These tests compile a real C extension: the python-slim recipe on the
// Debian test base, whose builder stage installs gcc with apt-get from
// Debian's mirror. The test base's Python is Debian's, whose headers come
// with python3-dev (python:3.12-slim ships its own under /usr/local), so
// the tests add it to the build packages.

var slimTestPackages = []string{"gcc", "libc6-dev", "python3-dev", "libpq-dev"}

// buildSlim builds the example with r on the test base, with pipconf as the
// pip config secret, into an OCI tarball, and pushes it to ref when set.
func buildSlim(t *testing.T, env *testenv.Env, r recipes.PythonSlim, requirements string, pipconf []byte, ref string) string {
	t.Helper()
	ctxDir := testenv.ExampleContext(t, requirements)
	bctx, err := builder.LoadContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := r.Image(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	outputs := []builder.Output{{Type: client.ExporterOCI, Dest: dest}}
	if ref != "" {
		outputs = append(outputs, builder.Output{Type: client.ExporterImage, Attrs: map[string]string{"name": ref, "push": "true"}})
	}
	if _, err := builder.Build(context.Background(), env.Client, []builder.Image{img}, builder.Options{
		Outputs: outputs,
		Session: []session.Attachable{secretsprovider.FromMap(map[string][]byte{recipes.PipConfSecret: pipconf})},
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
	bctx, err := builder.LoadContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	builderTar := filepath.Join(t.TempDir(), "builder.tar")
	st := r.BuilderStage(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	if _, err := builder.Build(context.Background(), env.Client, []builder.Image{{Platform: testenv.Platform, Root: st, Base: env.Base, Context: bctx}},
		builder.Options{Outputs: []builder.Output{{Type: client.ExporterOCI, Dest: builderTar}},
			Session: []session.Attachable{secretsprovider.FromMap(map[string][]byte{recipes.PipConfSecret: testenv.SeverityIndex(t, false)})}}, nil); err != nil {
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
