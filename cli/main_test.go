package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestUsageErrors(t *testing.T) {
	ctxDir := t.TempDir()
	// Usage errors are found before a daemon is contacted: the default
	// address and {addr} are a tripwire (cliNoDaemon).
	hex := strings.Repeat("ab", 32)
	// ignored has a requirements file its .dockerignore leaves out.
	ignored := t.TempDir()
	for name, body := range map[string]string{"requirements.txt": "flask\n", ".dockerignore": "# text files\n*.txt\n"} {
		if err := os.WriteFile(filepath.Join(ignored, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notFolder := filepath.Join(ignored, "requirements.txt")
	// tokenIndex names a private index, password and all, in its
	// requirements file, which would put the password in the graph.
	tokenIndex := t.TempDir()
	if err := os.WriteFile(filepath.Join(tokenIndex, "requirements.txt"), []byte("--index-url https://ci:s3cr3t@pypi.example.com/simple\nflask\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// noProject names a local project it does not hold.
	noProject := t.TempDir()
	if err := os.WriteFile(filepath.Join(noProject, "requirements.txt"), []byte("./native\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// app is a context the recipes accept, for errors found later.
	app := t.TempDir()
	if err := os.WriteFile(filepath.Join(app, "requirements.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// mine is a folder of the user's, which no output may replace.
	mine := t.TempDir()
	if err := os.WriteFile(filepath.Join(mine, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if dt, err := os.ReadFile(filepath.Join(mine, "keep.txt")); err != nil || string(dt) != "mine" {
			t.Errorf("keep.txt after the usage errors: %q, %v; want it kept", dt, err)
		}
	})
	// secretIn keeps the pip config it gives as a secret in the context.
	secretIn := t.TempDir()
	for name, body := range map[string]string{"requirements.txt": "flask\n", "pip.conf": "[global]\nindex-url = https://TOKEN@pypi.example.com/simple\n"} {
		if err := os.WriteFile(filepath.Join(secretIn, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A cosign key pair, its password in COSIGN_PASSWORD, and a key with
	// another password.
	signKey, signPub := testenv.CosignKeyPair(t, testenv.CosignPassword)
	otherKey, _ := testenv.CosignKeyPair(t, "another password")
	t.Setenv("COSIGN_PASSWORD", testenv.CosignPassword)
	tests := []struct {
		name string
		args []string
		want string // in the one error line
	}{
		{name: "no command", args: nil, want: "no command"},
		{name: "unknown command", args: []string{"bulid"}, want: `unknown command "bulid"`},
		{name: "no recipe", args: []string{"build"}, want: "build: RECIPE missing; usage: imagebuild build RECIPE"},
		{name: "two recipes", args: []string{"build", "python-alpine", "x"}, want: `build: unexpected argument "x"; usage: imagebuild build RECIPE`},
		{name: "unknown recipe", args: []string{"build", "python-nonesuch", "--context", ctxDir}, want: `unknown recipe "python-nonesuch"`},
		{name: "unknown flag", args: []string{"build", "python-alpine", "--frobnicate"}, want: "unknown flag: --frobnicate"},
		{name: "bad platform", args: []string{"build", "python-alpine", "--context", ctxDir, "--platform", "linux/amd64/v9/x"}, want: "--platform"},
		{name: "base without digest", args: []string{"build", "python-alpine", "--context", ctxDir, "--base", "python:3.12-alpine"}, want: "--base: invalid pin"},
		{name: "base without tag", args: []string{"build", "python-alpine", "--context", ctxDir, "--base", "python@sha256:" + hex}, want: "no tag"},
		{name: "runtime base without digest", args: []string{"build", "python-alpine", "--context", ctxDir, "--runtime-base", "python:3.12-alpine"}, want: "--runtime-base: invalid pin"},
		{name: "llb runtime base without digest", args: []string{"llb", "python-alpine", "--context", ctxDir, "--runtime-base", "python:3.12-alpine"}, want: "--runtime-base: invalid pin"},
		{name: "lock with a runtime base", args: []string{"lock", "python-alpine", "--context", ctxDir, "--runtime-base", "python:3.12-alpine@sha256:" + strings.Repeat("a", 64)}, want: "--runtime-base: the lock is of the builder stage"},
		{name: "lock push without a tag", args: []string{"lock", "python-alpine", "--context", ctxDir, "--push", "registry.example/builder@sha256:" + strings.Repeat("a", 64)}, want: `--push "registry.example/builder@sha256:`},
		{name: "lock of a recipe without a builder stage", args: []string{"lock", "python-nonesuch", "--context", ctxDir}, want: `unknown recipe "python-nonesuch"`},
		{name: "missing context", args: []string{"build", "python-alpine", "--context", filepath.Join(ctxDir, "nope")}, want: "no such file or directory; point it at the build context directory"},
		{name: "output without type", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "dest=x.tar"}, want: "no type"},
		{name: "output unknown type", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=zip,dest=x"}, want: `unknown type "zip"`},
		{name: "oci output without dest", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci"}, want: "type=oci needs dest=PATH"},
		{name: "output field not key=value", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,x.tar"}, want: `field "x.tar" is not KEY=VALUE`},
		{name: "push without tag", args: []string{"build", "python-alpine", "--context", ctxDir, "--push"}, want: "--push needs --tag"},
		{name: "bad progress", args: []string{"build", "python-alpine", "--context", ctxDir, "--progress", "loud"}, want: `--progress "loud"`},
		{name: "llb bad platform", args: []string{"llb", "python-alpine", "--platform", "plan9//"}, want: "--platform"},
		{name: "windows platform", args: []string{"build", "python-alpine", "--context", ctxDir, "--addr", "{addr}", "--platform", "linux/amd64,windows/amd64"}, want: `--platform "windows/amd64": only linux platforms`},
		{name: "platform named twice", args: []string{"build", "python-alpine", "--context", ctxDir, "--addr", "{addr}", "--platform", "linux/arm64", "--platform", "linux/aarch64"}, want: "linux/arm64 named twice"},
		{name: "docker output of two platforms", args: []string{"build", "python-alpine", "--context", ctxDir, "--addr", "{addr}", "--platform", "linux/amd64,linux/arm64", "-o", "type=docker,dest={out}/x.tar"}, want: "a docker tarball holds one platform's image"},
		{name: "llb two platforms", args: []string{"llb", "python-alpine", "--context", ctxDir, "--platform", "linux/amd64,linux/arm64"}, want: "llb writes one platform's graph"},
		{name: "llb windows", args: []string{"llb", "python-alpine", "--context", ctxDir, "--platform", "windows/amd64"}, want: "only linux platforms"},
		{name: "recipes takes no args", args: []string{"recipes", "x"}, want: `recipes: unexpected argument "x"; usage: imagebuild recipes`},
		{name: "bad source date epoch", args: []string{"build", "python-alpine", "--context", ctxDir, "--source-date-epoch", "yesterday"}, want: `--source-date-epoch "yesterday"`},
		{name: "secret without src", args: []string{"build", "python-alpine", "--context", ctxDir, "--secret", "id=pipconf"}, want: "want id=ID,src=PATH"},
		{name: "secret file missing", args: []string{"build", "python-alpine", "--context", ctxDir, "--secret", "id=pipconf,src=" + filepath.Join(ctxDir, "nope")}, want: "is not a readable file"},
		{name: "secret nothing reads", args: []string{"build", "python-alpine", "--context", ctxDir, "--secret", "id=pipconfig,src=" + notFolder}, want: "--secret id=pipconfig: no step of the recipe reads a secret of that id; it reads id=pipconf"},
		{name: "bad registry mirror", args: []string{"build", "python-alpine", "--context", ctxDir, "--registry-mirror", "docker.io"}, want: "want REGISTRY=MIRROR"},
		{name: "bad provenance", args: []string{"build", "python-alpine", "--context", ctxDir, "--provenance", "full"}, want: `--provenance "full"`},
		{name: "addr unknown scheme", args: []string{"build", "python-alpine", "--context", app, "--addr", "http://buildkitd"}, want: `--addr: buildkit address "http://buildkitd": unknown scheme "http"; BuildKit is reached by unix://, tcp://, docker://, docker-container://, podman-container://, nerdctl-container://, kube-pod:// or ssh://`},
		{name: "engine address without a host scheme", args: []string{"build", "python-alpine", "--context", app, "--addr", "docker://buildkitd"}, want: `docker host "buildkitd": want unix:///PATH, tcp://HOST:PORT or ssh://`},
		{name: "addr without scheme", args: []string{"build", "python-alpine", "--context", app, "--addr", "buildkit.example.com:1234"}, want: `unknown scheme "buildkit.example.com"`},
		{name: "addr tcp without port", args: []string{"build", "python-alpine", "--context", app, "--addr", "tcp://buildkit.example.com"}, want: "want tcp://HOST:PORT"},
		{name: "addr with password", args: []string{"build", "python-alpine", "--context", app, "--addr", "ssh://ci:hunter2@builder/run/buildkit/buildkitd.sock"}, want: `"ssh://ci:xxxxx@builder/run/buildkit/buildkitd.sock": a password in the address is not supported`},
		{name: "tlsdir and tlscacert", args: []string{"build", "python-alpine", "--context", app, "--addr", "tcp://h:1", "--tlsdir", app, "--tlscacert", "ca.pem"}, want: "give the folder or the files, not both"},
		{name: "tlsdir without ca", args: []string{"build", "python-alpine", "--context", app, "--addr", "tcp://h:1", "--tlsdir", app}, want: "--tlsdir " + app + ": no ca.pem or ca.crt in it"},
		{name: "tlscert without tlskey", args: []string{"build", "python-alpine", "--context", app, "--addr", "tcp://h:1", "--tlscert", "cert.pem"}, want: "a client certificate and its key go together"},
		{name: "tlscacert missing", args: []string{"build", "python-alpine", "--context", app, "--addr", "tcp://h:1", "--tlscacert", filepath.Join(app, "ca.pem")}, want: "CA certificate " + filepath.Join(app, "ca.pem") + " is not a readable file"},
		{name: "pins without verb", args: []string{"pins"}, want: "usage: imagebuild pins check|bump"},
		{name: "pins bad format", args: []string{"pins", "check", "--format", "xml"}, want: `--format "xml"`},
		{name: "verify without target", args: []string{"verify"}, want: "verify: TARGET missing; usage: imagebuild verify TARGET"},
		{name: "verify missing file", args: []string{"verify", filepath.Join(ctxDir, "nope.tar")}, want: "nope.tar: no such file or directory, and not a registry reference"},
		{name: "verify relative missing file", args: []string{"verify", "nope.tar"}, want: "nope.tar: no such file or directory"},
		{name: "base with a short digest", args: []string{"build", "python-alpine", "--context", ctxDir, "--base", "python:3.12-alpine@sha256:1234", "-o", "type=oci,dest={out}/image.tar"},
			want: `malformed digest: a sha256 digest is 64 hex digits (0-9, a-f), this one is "1234"`},
		{name: "no requirements file", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,dest={out}/image.tar"},
			want: "recipe python-alpine: build context " + ctxDir + " has no requirements.txt, which the recipe's Requirements field names"},
		{name: "requirements file ignored", args: []string{"build", "python-slim", "--context", ignored, "-o", "type=oci,dest={out}/image.tar"},
			want: "recipe python-slim: build context " + ignored + `: requirements.txt is excluded by its .dockerignore (pattern "*.txt"), and the recipe's Requirements field names it`},
		{name: "index password in the requirements", args: []string{"build", "python-alpine", "--context", tokenIndex, "-o", "type=oci,dest={out}/image.tar"},
			want: "recipe python-alpine: Requirements: requirements.txt: line 1: --index-url https://ci:xxxxx@pypi.example.com/simple holds a password"},
		{name: "local project not in the context", args: []string{"build", "python-alpine", "--context", noProject, "-o", "type=oci,dest={out}/image.tar"},
			want: "recipe python-alpine: Requirements: requirements.txt: ./native: the build context has no Python project there (no pyproject.toml or setup.py it sends)"},
		{name: "llb, index password in the requirements", args: []string{"llb", "python-alpine", "--context", tokenIndex, "--platform", "linux/amd64"},
			want: "Requirements: requirements.txt: line 1: --index-url https://ci:xxxxx@pypi.example.com/simple holds a password"},
		{name: "output folder missing", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,dest={out}/missing/image.tar"},
			want: `--output "type=oci,dest={out}/missing/image.tar": invalid output: folder {out}/missing does not exist`},
		{name: "output folder is a file", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=docker,dest=" + notFolder + "/image.tar"},
			want: notFolder + " is not a folder"},
		{name: "tarball output is a directory", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,dest={out}"},
			want: "dest={out} is a directory; type=oci writes a tarball, so name a file"},
		{name: "layout output is a file", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,tar=false,dest=" + notFolder},
			want: "is a file; type=oci,tar=false writes an OCI layout directory"},
		{name: "layout output folder missing", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=oci,tar=false,dest={out}/missing/layout"},
			want: "folder {out}/missing does not exist"},
		{name: "local output is a file", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=local,dest=" + notFolder},
			want: "is a file; type=local writes a directory"},
		{name: "local output over the user's files", args: []string{"build", "python-alpine", "--context", app, "-o", "type=local,dest=" + mine},
			want: "dest=" + mine + ": " + mine + " holds files imagebuild did not write (keep.txt, ...); name a new or empty folder"},
		{name: "layout output over the user's files", args: []string{"build", "python-alpine", "--context", app, "-o", "type=oci,tar=false,dest=" + mine},
			want: mine + " holds files imagebuild did not write"},
		{name: "local output is the context", args: []string{"build", "python-alpine", "--context", app, "-o", "type=local,dest=" + app},
			want: "dest=" + app + " is or holds the build context " + app + ", which the output would replace; write it outside the context"},
		{name: "layout output holds the context", args: []string{"build", "python-alpine", "--context", app, "-o", "type=oci,tar=false,dest=" + filepath.Dir(app)},
			want: "is or holds the build context " + app},
		{name: "secret inside the context", args: []string{"build", "python-alpine", "--context", secretIn, "--secret", "id=pipconf,src=" + filepath.Join(secretIn, "pip.conf")},
			want: "--secret id=pipconf: " + filepath.Join(secretIn, "pip.conf") + " is inside the build context " + secretIn + ", which would send it to the daemon and could copy it into the image; keep the file outside the context, or leave it out in the context's .dockerignore (pip.conf)"},
		{name: "metadata file folder missing", args: []string{"build", "python-alpine", "--context", ctxDir, "--metadata-file", "{out}/missing/md.json"},
			want: "--metadata-file {out}/missing/md.json: folder {out}/missing does not exist"},
		{name: "bad tag", args: []string{"build", "python-alpine", "--context", ctxDir, "-t", "Team/App:1"}, want: `--tag "Team/App:1"`},
		{name: "sign with no key file", args: []string{"build", "python-alpine", "--context", app, "-t", "127.0.0.1:1/app:1", "--push", "--sign", filepath.Join(ctxDir, "nope.key")}, want: "--sign " + filepath.Join(ctxDir, "nope.key") + ": read private key"},
		{name: "sign with the wrong password", args: []string{"build", "python-alpine", "--context", app, "-t", "127.0.0.1:1/app:1", "--push", "--sign", otherKey}, want: "wrong password"},
		{name: "sign a public key", args: []string{"build", "python-alpine", "--context", app, "-t", "127.0.0.1:1/app:1", "--push", "--sign", signPub}, want: "--sign " + signPub + ": private key"},
		{name: "sign without a push", args: []string{"build", "python-alpine", "--context", app, "-o", "type=oci,dest={out}/image.tar", "--sign", signKey}, want: "nothing is pushed to sign"},
		{name: "verify a key's signature of a file", args: []string{"verify", "--key", signPub, app}, want: "is not a registry reference"},
		{name: "verify with no key file", args: []string{"verify", "--key", filepath.Join(ctxDir, "nope.pub"), "127.0.0.1:1/app:1"}, want: "--key " + filepath.Join(ctxDir, "nope.pub")},
		{name: "load without a tag", args: []string{"build", "python-alpine", "--context", ctxDir, "--load"}, want: "--load needs --tag NAME"},
		{name: "load with a bad tag", args: []string{"build", "python-alpine", "--context", ctxDir, "--load", "-t", "Team/App:1"}, want: `--load: invalid output: image name "Team/App:1"`},
		{name: "bad network", args: []string{"build", "python-alpine", "--context", ctxDir, "--network", "bridge"}, want: `--network "bridge": want default, host or none`},
		{name: "bad image output name", args: []string{"build", "python-alpine", "--context", ctxDir, "-o", "type=image,name=app:1 0"}, want: `image name "app:1 0"`},
		{name: "verify bad format", args: []string{"verify", ctxDir, "--format", "yaml"}, want: `--format "yaml"`},
		{name: "push without ref", args: []string{"push", ctxDir}, want: "push: REF missing; usage: imagebuild push LAYOUT REF [--sign KEY]"},
		{name: "push not a layout", args: []string{"push", ctxDir, "127.0.0.1:5000/team/app:1"}, want: "no index.json"},
		{name: "push bad ref", args: []string{"push", ctxDir, "Team/App:1"}, want: `reference "Team/App:1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// {out} is a folder for outputs, which must stay empty.
			out := t.TempDir()
			args := slices.Clone(tt.args)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "{out}", out)
			}
			want := strings.ReplaceAll(tt.want, "{out}", out)
			stdout, stderr, code := cliNoDaemon(t, args...)
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("output folder has %v, want nothing", entries)
			}
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "imagebuild: ") || !strings.Contains(lines[0], want) {
				t.Errorf("stderr = %q, want one line with %q", stderr, want)
			}
			if strings.Contains(stderr, "s3cr3t") {
				t.Errorf("stderr shows a password: %q", stderr)
			}
		})
	}
}

// TestNoEngine: --addr docker:// where no Docker Engine answers is one
// line naming the engine's address and what to do, exit 1.
func TestNoEngine(t *testing.T) {
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	_, stderr, code := cli(t, "build", "python-alpine", "--context", ctxDir, "--addr", "docker://unix://"+sock)
	want := "imagebuild: no Docker Engine answers at unix://" + sock + " (dial unix " + sock + ": connect: no such file or directory); start Docker, or point --addr docker://HOST or DOCKER_HOST at a running engine\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}

func TestNoDaemon(t *testing.T) {
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--context", ctxDir,
		"--addr", "unix://"+filepath.Join(t.TempDir(), "none.sock"), "-o", "type=oci,dest="+dest)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "no BuildKit daemon answers") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line saying no daemon answers", stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 0 {
		t.Errorf("output directory has %v, want nothing", entries)
	}
}

func TestParseOutput(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("out", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec string
		want output.Output
	}{
		{"type=oci,dest=out/image.tar", output.Output{Type: "oci", Dest: "out/image.tar", Attrs: map[string]string{}}},
		{"type=image,name=r/a:1,push=true", output.Output{Type: "image", Attrs: map[string]string{"name": "r/a:1", "push": "true"}}},
		{`type=image,"name=r/a:1,r/a:2"`, output.Output{Type: "image", Attrs: map[string]string{"name": "r/a:1,r/a:2"}}},
		{"type=local,dest=rootfs", output.Output{Type: "local", Dest: "rootfs", Attrs: map[string]string{}}},
	}
	for _, tt := range tests {
		got, err := parseOutput(tt.spec)
		if err != nil {
			t.Errorf("parseOutput(%q): %v", tt.spec, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseOutput(%q) (-want +got):\n%s", tt.spec, diff)
		}
	}
}

func TestTagAndPush(t *testing.T) {
	o := buildOptions{tags: []string{"r/a:1", "r/a:2"}, push: true, progress: "plain"}
	so, err := o.options()
	if err != nil {
		t.Fatal(err)
	}
	want := []output.Output{{Type: "image", Attrs: map[string]string{"name": "r/a:1,r/a:2", "push": "true"}}}
	if diff := cmp.Diff(want, so.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestLLBCommand(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := cli(t, "llb", "python-alpine", "--context", dir, "--platform", "linux/arm64")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if diff := cmp.Diff(alpineGraph(t, dir, ocispecs.Platform{OS: "linux", Architecture: "arm64"}), readLLB(t, stdout)); diff != "" {
		t.Errorf("llb output is not the recipe's arm64 graph (-want +got):\n%s", diff)
	}
}

// readLLB reads the ops of a definition `imagebuild llb` wrote.
func readLLB(t *testing.T, stdout string) [][]byte {
	t.Helper()
	def, err := llb.ReadFrom(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("llb output does not read back: %v", err)
	}
	return def.Def
}

// alpineGraph is the ops of python-alpine's graph for p, with dir as the
// build context.
func alpineGraph(t *testing.T, dir string, p ocispecs.Platform) [][]byte {
	t.Helper()
	bctx, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: p, Context: bctx})
	if err != nil {
		t.Fatal(err)
	}
	def, err := img.Marshal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return def.Def
}

func TestRecipesAndVersion(t *testing.T) {
	stdout, _, code := cli(t, "recipes")
	if code != 0 || !strings.HasPrefix(stdout, "python-alpine ") {
		t.Errorf("recipes: exit %d, %q", code, stdout)
	}
	// A test binary carries no module dependencies in its build info; the
	// command as built does.
	out, err := exec.Command(testenv.BuildCLI(t), "version").Output()
	if err != nil || !strings.Contains(string(out), "buildkit client v0.34.2") {
		t.Errorf("version: %v, %q, want the BuildKit client version", err, out)
	}
	stdout, _, code = cli(t, "build", "--help")
	if code != 0 || !strings.Contains(stdout, "--metadata-file") {
		t.Errorf("build --help: exit %d, %q", code, stdout)
	}
}

// TestDaemonVersionMatchesClient checks the buildkitd the project builds
// (tools/buildkitd) is the BuildKit version the client is built with.
func TestDaemonVersionMatchesClient(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var client string
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/moby/buildkit" {
			client = f[1]
		}
	}
	dt, err := os.ReadFile("../tools/buildkitd/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "github.com/moby/buildkit " + client + "\n"; client == "" || !strings.Contains(string(dt), want) {
		t.Errorf("tools/buildkitd/go.mod does not require %q; make the daemon's version the client's", strings.TrimSpace(want))
	}
}

func TestTLSDirFiles(t *testing.T) {
	write := func(t *testing.T, dir string, names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name          string
		files         []string
		ca, cert, key string
		wantErr       string
	}{
		{name: "buildctl's names", files: []string{"ca.pem", "cert.pem", "key.pem"}, ca: "ca.pem", cert: "cert.pem", key: "key.pem"},
		{name: "kubernetes secret names", files: []string{"ca.crt", "tls.crt", "tls.key"}, ca: "ca.crt", cert: "tls.crt", key: "tls.key"},
		{name: "pem names first", files: []string{"ca.pem", "ca.crt", "cert.pem", "tls.crt", "key.pem", "tls.key"}, ca: "ca.pem", cert: "cert.pem", key: "key.pem"},
		{name: "CA alone", files: []string{"ca.crt"}, ca: "ca.crt"},
		{name: "no CA", files: []string{"cert.pem", "key.pem"}, wantErr: "no ca.pem or ca.crt"},
		{name: "cert without key", files: []string{"ca.pem", "tls.crt"}, wantErr: "tls.crt without key.pem or tls.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.files...)
			ca, cert, key, err := tlsFiles(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("tlsFiles = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			path := func(n string) string {
				if n == "" {
					return ""
				}
				return filepath.Join(dir, n)
			}
			if diff := cmp.Diff([]string{path(tt.ca), path(tt.cert), path(tt.key)}, []string{ca, cert, key}); diff != "" {
				t.Errorf("tlsFiles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnreachableDaemon(t *testing.T) {
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t))
	_, stderr, code := cli(t, "build", "python-alpine", "--context", ctxDir, "--addr", addr, "-o", "type=oci,dest="+dest)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "imagebuild: no BuildKit daemon answers at " + addr + ": dial tcp " + strings.TrimPrefix(addr, "tcp://") + ": connect: connection refused; check that a daemon runs there"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line starting %q", stderr, want)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 0 {
		t.Errorf("output directory has %v, want nothing", entries)
	}
}

// TestLLBDefaultPlatform: without --platform, llb writes this machine's
// platform's graph and says which it chose.
func TestLLBDefaultPlatform(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := cli(t, "llb", "python-alpine", "--context", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	host := platforms.Normalize(platforms.DefaultSpec())
	if !strings.Contains(stderr, "no --platform") || !strings.Contains(stderr, platforms.Format(host)) {
		t.Errorf("stderr = %q, want it to name %s as the platform chosen", stderr, platforms.Format(host))
	}
	if diff := cmp.Diff(alpineGraph(t, dir, host), readLLB(t, stdout)); diff != "" {
		t.Errorf("llb output is not the recipe's graph for %s (-want +got):\n%s", platforms.Format(host), diff)
	}
}
