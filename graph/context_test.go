package graph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestLoadContext(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(a, ".dockerignore"), []byte("# secrets\n*.env\n/build\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadContext(a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"*.env", "build"}, ca.Exclude()); diff != "" {
		t.Errorf("exclude patterns (-want +got):\n%s", diff)
	}
	cb, err := LoadContext(b)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Exclude() != nil {
		t.Errorf("no .dockerignore, exclude = %q", cb.Exclude())
	}
	if ca.Dir() != a || ca.ID() == cb.ID() {
		t.Errorf("contexts %s (%s) and %s (%s): want the directory and distinct IDs for distinct directories", ca.Dir(), ca.ID(), cb.Dir(), cb.ID())
	}
	again, err := LoadContext(a + "/.")
	if err != nil || again.ID() != ca.ID() {
		t.Errorf("same directory, IDs %q and %q (%v): want one", ca.ID(), again.ID(), err)
	}
	var zero Context
	if zero.Dir() != "" || zero.All().Output() != nil {
		t.Error("the zero Context is not the empty context")
	}
	f := filepath.Join(a, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{f, filepath.Join(a, "missing")} {
		if _, err := LoadContext(bad); err == nil {
			t.Errorf("LoadContext(%s) = nil error, want one", bad)
		}
	}
}

func TestCheckContext(t *testing.T) {
	req := ContextFile{Path: "deploy/requirements.txt", NamedBy: "the recipe's Requirements field"}
	tests := []struct {
		name     string
		files    map[string]string // path: content; a path ending in / is a directory
		ignore   string
		excluded string // the pattern named, "" when not excluded
		want     string // in the error; "" for none
	}{
		{name: "present", files: map[string]string{"deploy/requirements.txt": "x\n"}},
		{name: "missing", want: "has no deploy/requirements.txt, which the recipe's Requirements field names"},
		{name: "a directory", files: map[string]string{"deploy/requirements.txt/": ""}, want: "not a regular file"},
		{name: "excluded", files: map[string]string{"deploy/requirements.txt": "x\n"}, ignore: "*.md\ndeploy/*.txt\n",
			excluded: "deploy/*.txt", want: `deploy/requirements.txt is excluded by its .dockerignore (pattern "deploy/*.txt")`},
		{name: "parent excluded", files: map[string]string{"deploy/requirements.txt": "x\n"}, ignore: "deploy\n",
			excluded: "deploy", want: "is excluded by its .dockerignore"},
		{name: "taken back in", files: map[string]string{"deploy/requirements.txt": "x\n"}, ignore: "deploy/*\n!deploy/requirements.txt\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, body := range tt.files {
				full := filepath.Join(dir, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(full, 0o755); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.ignore != "" {
				if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(tt.ignore), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			bctx, err := LoadContext(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = bctx.Check([]ContextFile{req})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckContext = %v, want nil", err)
				}
				return
			}
			var cfe *ContextFileError
			if !errors.As(err, &cfe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("CheckContext = %v, want a ContextFileError naming %s and saying %q", err, dir, tt.want)
			}
			if cfe.Excluded != tt.excluded {
				t.Errorf("excluded by %q, want %q", cfe.Excluded, tt.excluded)
			}
		})
	}
}

// TestSecretInsideTheContext is the attack of a secret the context sends:
// `--secret id=pipconf,src=pip.conf` with the context "." copied the pip
// config, with its index token, into /app. A secret inside the context is
// refused unless its .dockerignore leaves it out.
func TestSecretInsideTheContext(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "pip.conf")
	for _, f := range []string{filepath.Join(dir, "pip.conf"), filepath.Join(dir, "secrets", "token"), outside} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("[global]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.Symlink(filepath.Join(dir, "pip.conf"), link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("secrets/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path    string
		refused bool
	}{
		{filepath.Join(dir, "pip.conf"), true},
		{link, true}, // a link outside the context to a file inside it
		{filepath.Join(dir, "secrets", "token"), false},
		{outside, false},
	} {
		err := c.KeepsOut(tt.path)
		if tt.refused && (err == nil || !strings.Contains(err.Error(), "is inside the build context")) {
			t.Errorf("KeepsOut(%s) = %v, want it refused", tt.path, err)
		}
		if !tt.refused && err != nil {
			t.Errorf("KeepsOut(%s) = %v, want nil", tt.path, err)
		}
	}
}

// TestRefs: every image source of the graph and the base, normalized, once.
func TestRefs(t *testing.T) {
	hex1 := strings.Repeat("ab", 32)
	base := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	builderStage := llb.Image("python:3.12-alpine@sha256:" + hex1).Run(llb.Shlex("true")).Root()
	tool := llb.Image("ghcr.io/team/tool:1")
	root := llb.Image(base.String()).
		File(llb.Copy(builderStage, "/out", "/out")).
		File(llb.Copy(tool, "/bin/tool", "/bin/tool"))
	img := Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}, Root: root, Base: base}
	got, err := img.Refs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{base.String(), "ghcr.io/team/tool:1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Refs (-want +got):\n%s", diff)
	}

	// A builder base the graph does not hold yet (its expansion would) is
	// listed too; one that is the base, once.
	builderBase := ref.Pin("docker.io/library/python:3.12-slim@sha256:" + strings.Repeat("cd", 32))
	for _, tt := range []struct {
		builder ref.Pin
		want    []string
	}{
		{builderBase, []string{base.String(), builderBase.String(), "ghcr.io/team/tool:1"}},
		{base, []string{base.String(), "ghcr.io/team/tool:1"}},
	} {
		img.BuilderBase = tt.builder
		got, err := img.Refs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Refs with the builder base %s (-want +got):\n%s", tt.builder, diff)
		}
	}
}

// TestContextFileOutsideTheContext: a file the recipe reads (the
// requirements file, the lock) that is a symbolic link out of the context,
// or under a folder that is one, is not read: the build would otherwise
// read a file of the machine it runs on (a CI runner's secret, say) into
// the graph and its error messages. A link inside the context is read.
func TestContextFileOutsideTheContext(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "token")
	if err := os.WriteFile(secret, []byte("ci-secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for link, target := range map[string]string{
		"requirements.txt": secret,
		"up":               outside,
		"inside.txt":       "real.txt",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "real.txt"), []byte("six==1.16.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"requirements.txt", "up/token"} {
		dt, err := c.ReadFile(ContextFile{Path: path, NamedBy: "the test"})
		var cfe *ContextFileError
		if !errors.As(err, &cfe) || strings.Contains(string(dt), "secret") || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("ReadFile(%s), a link out of the context: %q, %v; want a ContextFileError and nothing read", path, dt, err)
		}
		if err := c.Check([]ContextFile{{Path: path}}); err == nil {
			t.Errorf("Check(%s), a link out of the context, passes", path)
		}
	}
	if dt, err := c.ReadFile(ContextFile{Path: "inside.txt"}); err != nil || string(dt) != "six==1.16.0\n" {
		t.Errorf("ReadFile(inside.txt), a link inside the context: %q, %v", dt, err)
	}
}
