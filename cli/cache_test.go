package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
)

func TestParseCache(t *testing.T) {
	t.Setenv("ACTIONS_CACHE_URL", "https://cache.example/")
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "runner-token")
	t.Setenv("ACTIONS_CACHE_SERVICE_V2", "")
	type attrs = map[string]string
	tests := []struct {
		name string
		to   bool // --cache-to, else --cache-from
		spec string
		want client.CacheOptionsEntry
	}{
		{"bare ref to", true, "reg.example/team/cache:main",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "reg.example/team/cache:main"}}},
		{"bare ref from", false, "reg.example/team/cache:main",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "reg.example/team/cache:main"}}},
		{"registry mode min kept", true, "type=registry,ref=r/c,mode=min,image-manifest=true,oci-mediatypes=true",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "r/c", "mode": "min", "image-manifest": "true", "oci-mediatypes": "true"}}},
		{"local to", true, "type=local,dest=/tmp/cache",
			client.CacheOptionsEntry{Type: "local", Attrs: attrs{"dest": "/tmp/cache"}}},
		{"local from", false, "type=local,src=/tmp/cache",
			client.CacheOptionsEntry{Type: "local", Attrs: attrs{"src": "/tmp/cache"}}},
		{"inline", true, "type=inline",
			client.CacheOptionsEntry{Type: "inline", Attrs: attrs{}}},
		{"gha from the runner's environment", true, "type=gha,scope=main",
			client.CacheOptionsEntry{Type: "gha", Attrs: attrs{"scope": "main", "url": "https://cache.example/", "token": "runner-token"}}},
		{"ignore-error", true, "type=registry,ref=r/c,ignore-error=true",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "r/c", "ignore-error": "true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := parseCacheFrom
			if tt.to {
				parse = parseCacheTo
			}
			got, err := parse([]string{tt.spec})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]client.CacheOptionsEntry{tt.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCacheUsageErrors(t *testing.T) {
	// Outside a GitHub runner: buildctl's parser reads these when set at all.
	for _, k := range []string{"ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_CACHE_SERVICE_V2"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	ctxDir := t.TempDir()
	tests := []struct {
		name string
		flag string
		spec string
		want string // in the one error line
	}{
		{"unknown type", "--cache-to", "type=zip,dest=x", `unknown type "zip"; want registry, local, inline, gha, s3, azblob`},
		{"inline is no import", "--cache-from", "type=inline", `unknown type "inline"; want registry, local, gha, s3, azblob`},
		{"registry without ref", "--cache-to", "type=registry,mode=max", "type=registry needs ref=REF"},
		{"bad ref", "--cache-from", "type=registry,ref=Reg/Cache:main", "ref=Reg/Cache:main"},
		{"bare bad ref", "--cache-from", "not a ref", `--cache-from "not a ref": invalid cache: ref=not a ref`},
		{"bad mode", "--cache-to", "type=registry,ref=r/c,mode=maximal", "mode=maximal; want mode=min or mode=max"},
		{"inline max", "--cache-to", "type=inline,mode=max", "type=inline stores only mode=min"},
		{"local without dest", "--cache-to", "type=local,src=x", "type=local needs dest=DIR"},
		{"local without src", "--cache-from", "type=local,dest=x", "type=local needs src=DIR"},
		{"bad ignore-error", "--cache-to", "type=registry,ref=r/c,ignore-error=perhaps", "ignore-error=perhaps; want true or false"},
		{"field not key=value", "--cache-to", "type=registry,ref=r/c,max", "invalid value max"},
		{"malformed csv", "--cache-from", `type=registry,"ref=r/c`, `--cache-from "type=registry,\"ref=r/c"`},
		{"gha outside a runner", "--cache-to", "type=gha,scope=main", "requires url parameter"},
		{"gha token not shown", "--cache-from", "type=gha,url=https://cache.example/,token=s3cr3t,mode", "token=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := cliNoDaemon(t, "build", "python-alpine", "--context", ctxDir, tt.flag, tt.spec)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "imagebuild: "+tt.flag+" ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line naming %s with %q", stderr, tt.flag, tt.want)
			}
			if strings.Contains(stderr, "s3cr3t") {
				t.Errorf("stderr shows the token: %q", stderr)
			}
		})
	}
}

// processSteps returns the names of the recipe's steps that run a process,
// as the progress names them, read from the graph the build sends.
func processSteps(t *testing.T, env *testenv.Env, ctxDir string) map[string]bool {
	t.Helper()
	o := graphOptions{contextDir: ctxDir, base: env.Base.String()}
	r, in, err := o.recipe(&app{recipes: recipes.All()}, "python-alpine")
	if err != nil {
		t.Fatal(err)
	}
	img, err := recipeImages(r, in)(testenv.Platform)
	if err != nil {
		t.Fatal(err)
	}
	def, err := img.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Decode(def)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]bool{}
	for d, op := range g.All() {
		if op.GetExec() == nil {
			continue
		}
		name := g.Name(d)
		if name == "" {
			t.Fatalf("a step that runs %q has no name", op.GetExec().GetMeta().GetArgs())
		}
		steps[name] = true
	}
	if len(steps) == 0 {
		t.Fatal("the recipe's graph has no step that runs a process")
	}
	return steps
}

// progressSteps reads the progress --progress rawjson writes and returns each
// step's last state by name.
func progressSteps(t *testing.T, stderr string) map[string]client.Vertex {
	t.Helper()
	steps := map[string]client.Vertex{}
	for line := range strings.Lines(stderr) {
		var s client.SolveStatus
		if json.Unmarshal([]byte(line), &s) != nil {
			continue
		}
		for _, v := range s.Vertexes {
			if v.Completed != nil {
				steps[v.Name] = *v
			}
		}
	}
	return steps
}

// cacheBuild builds appContext's image from a pruned daemon with the extra
// flags into an OCI tarball, and returns the tarball and the build's steps
// as the progress reports them.
func cacheBuild(t *testing.T, env *testenv.Env, ctxDir string, flags ...string) (string, map[string]client.Vertex, string) {
	t.Helper()
	env.Prune(t)
	dest := filepath.Join(t.TempDir(), "image.tar")
	args := append([]string{"build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "rawjson", "--source-date-epoch", "1700000000",
		"-o", "type=oci,dest=" + dest}, flags...)
	_, stderr, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("build %v exited %d: %s", flags, code, lastLines(stderr, 3))
	}
	return dest, progressSteps(t, stderr), stderr
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestCacheImportAfterPrune exports the cache of a build from an empty
// daemon, empties the daemon again, and builds with that cache imported: no
// step that runs a process may run again, and the image must be the same.
func TestCacheImportAfterPrune(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	steps := processSteps(t, env, ctxDir)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	tests := []struct {
		name string
		to   []string
		from string
		// configOnly is a config field in which the image built with the
		// export alone may differ from the one built from the import.
		configOnly string
	}{
		{"registry", []string{"--cache-to", "type=registry,ref=" + env.Registry + "/imagebuild-test/cache:main,mode=max"},
			"type=registry,ref=" + env.Registry + "/imagebuild-test/cache:main", ""},
		{"local", []string{"--cache-to", "type=local,dest=" + cacheDir},
			"type=local,src=" + cacheDir, ""},
		// Inline cache travels in the pushed image's config; a bare ref imports it.
		// The image that carries it has it in its config, which is the one
		// difference from the image built from it.
		{"inline", []string{"--cache-to", "type=inline", "-t", env.Registry + "/imagebuild-test/app:inline", "--push"},
			env.Registry + "/imagebuild-test/app:inline", "moby.buildkit.cache.v0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coldTar, cold, _ := cacheBuild(t, env, ctxDir, tt.to...)
			ran := 0
			for name := range steps {
				if v, ok := cold[name]; ok && !v.Cached {
					ran++
				}
			}
			if ran == 0 {
				t.Fatalf("the cold build ran none of %v; the check below would prove nothing", steps)
			}

			warmTar, warm, stderr := cacheBuild(t, env, ctxDir, "--cache-from", tt.from)
			if strings.Contains(stderr, "no cache imported from") {
				t.Errorf("the import was not found:\n%s", lastLines(stderr, 5))
			}
			if got, want := digestOf(t, warmTar), digestOf(t, coldTar); got != want {
				cmp, err := compare.Tarballs(coldTar, warmTar)
				if err != nil {
					t.Fatal(err)
				}
				if tt.configOnly == "" || len(cmp.Layers) > 0 || len(cmp.Config) != 1 || cmp.Config[0] != tt.configOnly {
					var b strings.Builder
					cmp.WriteText(&b)
					t.Errorf("image from the imported cache is %s, want %s as built cold:\n%s", got, want, b.String())
				}
			}
			var cached []string
			for name, v := range warm {
				if steps[name] && !v.Cached {
					t.Errorf("step %q ran again after the cache import", name)
				}
				if v.Cached {
					cached = append(cached, name)
				}
			}
			if len(cached) == 0 {
				t.Errorf("no step was reported cached")
			}
			t.Logf("cached after the import: %q", cached)
		})
	}
}

// TestCacheFromMissingBuildsCold imports from a registry ref and a local
// directory that hold no cache (a branch's first build) on an empty daemon:
// the build runs cold, succeeds and says so once for each.
func TestCacheFromMissingBuildsCold(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	env.Prune(t)
	ref := env.Registry + "/imagebuild-test/cache:never-pushed"
	dir := filepath.Join(t.TempDir(), "no-cache")
	dest := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "plain", "-o", "type=oci,dest="+dest,
		"--cache-from", "type=registry,ref="+ref, "--cache-from", "type=local,src="+dir)
	if code != 0 {
		t.Fatalf("build exited %d: %s", code, lastLines(stderr, 5))
	}
	for _, from := range []string{ref, dir} {
		if n := strings.Count(stderr, "WARN: no cache imported from "+from+" ("); n != 1 {
			t.Errorf("stderr says %d times that %s has no cache, want once:\n%s", n, from, stderr)
		}
	}
	if strings.Contains(stderr, "ERROR") {
		t.Errorf("stderr reports an error:\n%s", stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the import made its directory: %v", err)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("no image written: %v", err)
	}
}

// TestCacheExportFailure exports to a registry that does not answer: the
// build fails and writes nothing, unless the export says ignore-error=true.
func TestCacheExportFailure(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	out := t.TempDir()
	dest := filepath.Join(out, "image.tar")
	args := []string{"build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=oci,dest=" + dest, "--cache-to"}

	_, stderr, code := cli(t, append(args, "type=registry,ref="+dead+"/cache:main")...)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, dead) {
		t.Errorf("exit %d, stderr %q; want 1 and one line naming %s", code, stderr, dead)
	}
	assertNoOutputs(t, out)

	_, stderr, code = cli(t, append(args, "type=registry,ref="+dead+"/cache:main,ignore-error=true")...)
	if code != 0 {
		t.Fatalf("with ignore-error=true: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("with ignore-error=true: no image written: %v", err)
	}
}
