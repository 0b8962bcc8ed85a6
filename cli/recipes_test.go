package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
)

// TestInvalidRecipe: a team's recipe that fails Validate is refused before
// anything is built or a daemon is contacted, in one line naming the field.
func TestInvalidRecipe(t *testing.T) {
	rs := []recipes.Recipe{
		recipes.Named("bad-package", "a package name with a space", recipes.PythonAlpine{Packages: []string{"lib pq"}}),
		recipes.Named("bad-env", "an env entry without =", recipes.PythonAlpine{Env: []string{"TRACKER_ENV"}}),
	}
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"build, package", []string{"build", "bad-package"}, `recipe bad-package: Packages: "lib pq" is not a package name`},
		{"llb, package", []string{"llb", "bad-package", "--platform", "linux/amd64"}, `recipe bad-package: Packages: "lib pq" is not a package name`},
		{"build, env", []string{"build", "bad-env"}, `recipe bad-env: Env: "TRACKER_ENV" is not KEY=VALUE`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(tt.args, "--context", ctxDir)
			if tt.args[0] == "build" {
				// A daemon address nothing may connect to: the refusal comes first.
				args = append(args, "--addr", testenv.Tripwire(t), "-o", `type=oci,"dest=`+filepath.Join(out, "image.tar")+`"`)
			}
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), args, &stdout, &stderr, rs...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if got := stderr.String(); strings.Count(got, "\n") != 1 || got != "imagebuild: "+tt.want+"\n" {
				t.Errorf("stderr = %q, want the one line %q", got, "imagebuild: "+tt.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 || stdout.Len() != 0 {
				t.Errorf("wrote %v and stdout %q, want nothing", entries, stdout.String())
			}
		})
	}
}

func TestRecipeSet(t *testing.T) {
	tracker := recipes.Named("tracker-api", "the tracker's API", recipes.PythonAlpine{})
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"recipes"}, &stdout, &stderr, tracker); code != 0 || stdout.String() != "tracker-api  the tracker's API\n" {
		t.Errorf("recipes: exit %d, %q, %q; want only tracker-api", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code := Run(t.Context(), []string{"llb", "python-alpine"}, &stdout, &stderr, tracker)
	if code != 2 || !strings.Contains(stderr.String(), `unknown recipe "python-alpine"; `+"`imagebuild recipes`"+` lists them: tracker-api`) {
		t.Errorf("llb of a recipe the binary lacks: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	code = Run(t.Context(), []string{"recipes"}, &stdout, &stderr, tracker, recipes.Named("tracker-api", "again", recipes.PythonSlim{}))
	if code != 2 || !strings.Contains(stderr.String(), `two recipes are named "tracker-api"`) {
		t.Errorf("two recipes of one name: exit %d, %q", code, stderr.String())
	}
}

// TestBaseDistro: --base-distro says how packages are installed on --base.
func TestBaseDistro(t *testing.T) {
	base := "127.0.0.1:5000/team/debian:bookworm@sha256:" + strings.Repeat("ab", 32)
	for _, tt := range []struct {
		distro, want, not string
	}{
		{"", "apk", "apt-get"},
		{"debian", "apt-get", "apk add"},
	} {
		args := []string{"llb", "python-alpine", "--platform", "linux/amd64", "--context", t.TempDir(), "--base", base}
		if tt.distro != "" {
			args = append(args, "--base-distro", tt.distro)
		}
		var stdout, stderr bytes.Buffer
		if code := Run(t.Context(), args, &stdout, &stderr, recipes.All()...); code != 0 {
			t.Fatalf("llb --base-distro %q: exit %d, %s", tt.distro, code, stderr.String())
		}
		if !bytes.Contains(stdout.Bytes(), []byte(tt.want)) || bytes.Contains(stdout.Bytes(), []byte(tt.not)) {
			t.Errorf("llb --base-distro %q: the graph does not install with %s alone", tt.distro, tt.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"llb", "python-alpine", "--base-distro", "debian"}, &stdout, &stderr, recipes.All()...); code != 2 || !strings.Contains(stderr.String(), "there is no --base") {
		t.Errorf("--base-distro without --base: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := Run(t.Context(), []string{"llb", "python-alpine", "--base", base, "--base-distro", "arch"}, &stdout, &stderr, recipes.All()...); code != 2 || !strings.Contains(stderr.String(), `distribution "arch": want alpine or debian`) {
		t.Errorf("--base-distro arch: exit %d, %q", code, stderr.String())
	}
}

// TestRuntimeBaseNotTaken: --runtime-base with a recipe that does not start
// its image from the runtime base it is given (one of one base) is refused
// in one line before a daemon is contacted, rather than left out.
func TestRuntimeBaseNotTaken(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	rs := []recipes.Recipe{pullsRecipe{"one-base", []string{"registry.example.com/team/base:1@sha256:" + hex}}}
	out := t.TempDir()
	for _, args := range [][]string{
		{"build", "one-base", "--addr", testenv.Tripwire(t), "-o", "type=oci,dest=" + filepath.Join(out, "image.tar")},
		{"llb", "one-base", "--platform", "linux/amd64"},
	} {
		args = append(args, "--context", t.TempDir(), "--runtime-base", "registry.example.com/team/base:1-patched@sha256:"+strings.Repeat("cd", 32))
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), args, &stdout, &stderr, rs...)
		if got := stderr.String(); code != 2 || strings.Count(got, "\n") != 1 || !strings.Contains(got, "--runtime-base: recipe one-base does not take a runtime base") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line saying the recipe takes no runtime base", args[0], code, got)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 || stdout.Len() != 0 {
			t.Errorf("%s wrote %v and stdout %q, want nothing", args[0], entries, stdout.String())
		}
	}
}
