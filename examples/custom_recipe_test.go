// Package examples holds the tests of the examples: the custom-recipe
// module, built as a team builds its own tool, and used as a team uses it.
package examples

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCustomRecipe builds examples/custom-recipe, a module of its own whose
// main registers the tracker-api recipe, and uses its binary: it lists the
// recipe, builds it on the test base into an image with the recipe's
// command, env and label that verify passes, and checks and bumps the pin
// the module declares. Alpine cannot be fetched here: the build runs on the
// Debian test base (--base), whose stand-in apk records what it is asked
// to install.
func TestCustomRecipe(t *testing.T) {
	env := testenv.Get(t)
	mod := copyExample(t)

	// The module's pin, pointed at an image of the test registry, so that
	// pins check and bump can reach it.
	ref := env.Registry + "/team/python:3.12-alpine"
	pinned := testenv.PushImage(t, ref, testenv.RegistryImage(t, env.Base.String()))
	pinsFile := filepath.Join(mod, "tracker", "pins.go")
	src, err := os.ReadFile(pinsFile)
	if err != nil {
		t.Fatal(err)
	}
	const example = `"docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"`
	if !bytes.Contains(src, []byte(example)) {
		t.Fatalf("%s does not declare %s", pinsFile, example)
	}
	write(t, pinsFile, strings.Replace(string(src), example, `"`+ref+"@"+pinned+`"`, 1))

	bin := filepath.Join(t.TempDir(), "tracker-build")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = mod
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the example module: %v\n%s", err, out)
	}
	run := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = mod
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	t.Run("the recipes link no build client", func(t *testing.T) {
		list := exec.Command("go", "list", "-deps", "./tracker")
		list.Dir = mod
		list.Env = append(os.Environ(), "GOWORK=off")
		out, err := list.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if pkg == "github.com/moby/buildkit/client" || strings.HasPrefix(pkg, "github.com/sigstore/") || strings.HasPrefix(pkg, "github.com/spdx/") {
				t.Errorf("the team's recipe package links %s", pkg)
			}
		}
	})

	t.Run("recipes and version", func(t *testing.T) {
		if out, code := run(t, "recipes"); code != 0 || !strings.HasPrefix(out, "tracker-api ") {
			t.Errorf("recipes: exit %d:\n%s", code, out)
		}
		out, code := run(t, "version")
		if code != 0 || !strings.HasPrefix(out, "example.com/tracker-build ") || !strings.Contains(out, "\nimagebuild v0.0.0 (replaced by ") || !strings.Contains(out, "buildkit client v0.34.2") {
			t.Errorf("version: exit %d, want the program's module, then imagebuild's and BuildKit's versions:\n%s", code, out)
		}
	})

	t.Run("build and verify", func(t *testing.T) {
		app := t.TempDir()
		write(t, filepath.Join(app, "requirements.txt"), "")
		write(t, filepath.Join(app, "tracker", "wsgi.py"), "application = None\n")
		tarball := filepath.Join(t.TempDir(), "tracker-api.oci.tar")
		out, code := run(t, "build", "tracker-api", "--addr", env.Addr, "--context", app, "--base", env.Base.String(),
			"--progress", "quiet", "-o", "type=oci,dest="+tarball)
		if code != 0 {
			t.Fatalf("build tracker-api: exit %d:\n%s", code, out)
		}
		cfg, err := testenv.OCIImage(t, tarball).ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"}; !slices.Equal(cfg.Config.Cmd, want) {
			t.Errorf("cmd = %q, want %q", cfg.Config.Cmd, want)
		}
		if !slices.Contains(cfg.Config.Env, "TRACKER_SETTINGS=tracker.settings.production") {
			t.Errorf("env = %q, want TRACKER_SETTINGS", cfg.Config.Env)
		}
		if got := cfg.Config.Labels["org.opencontainers.image.title"]; got != "tracker-api" {
			t.Errorf("title label = %q, want tracker-api", got)
		}
		if cfg.Config.User != "appuser" {
			t.Errorf("user = %q, want appuser", cfg.Config.User)
		}
		if out, code := run(t, "verify", tarball); code != 0 {
			t.Errorf("verify: exit %d:\n%s", code, out)
		}
	})

	t.Run("pins", func(t *testing.T) {
		out, code := run(t, "pins", "check")
		if code != 0 || !strings.Contains(out, "tracker-api") || !strings.Contains(out, pinned) || !strings.Contains(out, "current") {
			t.Fatalf("pins check: exit %d, want the module's pin, current:\n%s", code, out)
		}
		moved, err := mutate.Config(testenv.RegistryImage(t, ref), v1.Config{Labels: map[string]string{"rebuilt": "yes"}})
		if err != nil {
			t.Fatal(err)
		}
		current := testenv.PushImage(t, ref, moved)
		if out, code := run(t, "pins", "check"); code != 1 || !strings.Contains(out, "stale") {
			t.Errorf("pins check after the tag moved: exit %d, want 1 and stale:\n%s", code, out)
		}
		if out, code := run(t, "pins", "bump"); code != 0 {
			t.Fatalf("pins bump: exit %d:\n%s", code, out)
		}
		got, err := os.ReadFile(pinsFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got, []byte(`"`+ref+"@"+current+`"`)) {
			t.Errorf("pins bump left the module's pins file as:\n%s", got)
		}
	})
}

// copyExample copies examples/custom-recipe to a temporary directory, its
// replace directive pointed at this checkout.
func copyExample(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir("custom-recipe", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".mod") && !strings.HasSuffix(path, ".sum") {
			return err
		}
		dt, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("custom-recipe", path)
		if err != nil {
			return err
		}
		if rel == "go.mod" {
			if !bytes.Contains(dt, []byte("=> ../..")) {
				t.Fatal("custom-recipe/go.mod does not replace imagebuild with ../..")
			}
			dt = bytes.Replace(dt, []byte("=> ../.."), []byte("=> "+root), 1)
		}
		write(t, filepath.Join(dst, rel), string(dt))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
