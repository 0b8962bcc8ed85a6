package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// Env is the set of real parts the integration tests use.
type Env struct {
	// Addr is the BuildKit daemon's address.
	Addr string
	// Registry is the registry's host:port on 127.0.0.1.
	Registry string
	// Base is the test base image, pushed to Registry and pinned by its
	// index's digest: an image for each of Platforms.
	Base ref.Pin
	// Platforms are the platforms Base has: Platform, and Arm64 where the
	// daemon can run it (always under CI).
	Platforms []ocispecs.Platform
	// Client is connected to Addr.
	Client *client.Client
}

var (
	once     sync.Once
	env      *Env
	setupErr error
	stops    []func()
)

// Main runs the package's tests and then stops what Get started.
func Main(m *testing.M) {
	code := m.Run()
	for _, stop := range stops {
		stop()
	}
	os.Exit(code)
}

// Switch is the environment variable that makes the integration tests
// required: set (to anything but empty), as `make test` and CI set it, a
// test whose real parts cannot be had fails, naming what is missing,
// instead of skipping. CI set does the same.
const Switch = "IMAGEBUILD_INTEGRATION"

// Required reports whether integration tests must run here: [Switch] or
// CI is set.
func Required() bool {
	return os.Getenv(Switch) != "" || os.Getenv("CI") != ""
}

// Unavailable ends a test whose real parts cannot be had: it is skipped
// with the reason, or failed where integration tests are [Required].
func Unavailable(t testing.TB, format string, a ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format+" (integration tests are required here: "+Switch+" or CI is set)", a...)
	}
	t.Skipf(format+" (set "+Switch+"=1, as make test does, to fail instead)", a...)
}

// Get returns the environment, setting it up on first use. When it cannot be
// set up the test is skipped with the reason, or failed where integration
// tests are [Required]. With -short it is skipped (make unit).
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short (make unit)")
	}
	once.Do(func() { env, setupErr = setup() })
	if setupErr != nil {
		Unavailable(t, "integration environment not available: %v", setupErr)
	}
	return env
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func setup() (*Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	e := &Env{Addr: os.Getenv("BUILDKIT_HOST")}
	if e.Addr == "" {
		out, err := script(ctx, "buildkitd.sh")
		if err != nil {
			return nil, fmt.Errorf("start buildkitd: %w", err)
		}
		e.Addr = out
	}
	c, err := client.New(ctx, e.Addr)
	if err != nil {
		return nil, fmt.Errorf("buildkit client for %s: %w", e.Addr, err)
	}
	if _, err := c.Info(ctx); err != nil {
		return nil, fmt.Errorf("buildkitd at %s does not answer: %w", e.Addr, err)
	}
	e.Client = c
	if e.Registry = os.Getenv("IMAGEBUILD_TEST_REGISTRY"); e.Registry == "" {
		if e.Registry, err = startRegistry(); err != nil {
			return nil, err
		}
	}
	rootfs, err := script(ctx, "testbase-rootfs.sh", "amd64")
	if err != nil {
		return nil, fmt.Errorf("make test base rootfs: %w", err)
	}
	rootfses := map[string]string{builder.PlatformID(Platform): rootfs}
	e.Platforms = []ocispecs.Platform{Platform}
	// The arm64 base needs QEMU emulation, to make it and to build on it;
	// without that (not root, say) the tests that need it skip, or under CI fail.
	if err := e.canRun(ctx, Arm64); err != nil {
		arm64Err = err
	} else if rootfs, err := script(ctx, "testbase-rootfs.sh", "arm64"); err != nil {
		arm64Err = fmt.Errorf("make arm64 test base rootfs: %w", err)
	} else {
		rootfses[builder.PlatformID(Arm64)] = rootfs
		e.Platforms = append(e.Platforms, Arm64)
	}
	if e.Base, err = e.pushRootfs(ctx, rootfses); err != nil {
		return nil, fmt.Errorf("push test base: %w", err)
	}
	return e, nil
}

// arm64Err is why the test base has no arm64 image.
var arm64Err error

// NeedArm64 skips the test, or under CI fails it, when the test base has no
// arm64 image, and returns the platforms to build: Platform and Arm64.
func (e *Env) NeedArm64(t testing.TB) []ocispecs.Platform {
	t.Helper()
	if len(e.Platforms) > 1 {
		return e.Platforms
	}
	Unavailable(t, "no arm64 test base: %v", arm64Err)
	return nil
}

// canRun reports whether the daemon runs p, natively or under emulation.
func (e *Env) canRun(ctx context.Context, p ocispecs.Platform) error {
	workers, err := e.Client.ListWorkers(ctx)
	if err != nil {
		return err
	}
	var have []ocispecs.Platform
	for _, w := range workers {
		have = append(have, w.Platforms...)
	}
	if !platforms.Any(have...).Match(p) {
		return fmt.Errorf("the daemon at %s cannot run %s; register QEMU emulation before it starts (scripts/binfmt.sh, as root)", e.Addr, platforms.Format(p))
	}
	return nil
}

// script runs one of the project's scripts and returns the last line it printed.
func script(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot(), "scripts", name)}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", name, err, lastLines(stderr.String(), 5))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// startRegistry starts Debian's docker-registry on a free loopback port.
func startRegistry() (string, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", errors.New("docker-registry not found; install Debian's docker-registry package (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	dir, err := os.MkdirTemp("", "imagebuild-registry-")
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start docker-registry: %w", err)
	}
	stops = append(stops, func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	})
	for range 100 {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	return "", fmt.Errorf("docker-registry did not answer on %s: %s", addr, lastLines(string(log), 5))
}

// Platform is the platform the tests build for.
var Platform = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

// Arm64 is the test base's second platform, run under QEMU emulation.
var Arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}

// pushRootfs imports each platform's rootfs directory, by platform ID, as
// a one-layer image, and pushes them as one index (one image alone where
// there is one platform).
func (e *Env) pushRootfs(ctx context.Context, rootfses map[string]string) (ref.Pin, error) {
	name := e.Registry + "/imagebuild-test/debian:bookworm"
	locals := map[string]fsutil.FS{}
	var ps []ocispecs.Platform
	for _, p := range []ocispecs.Platform{Platform, Arm64} {
		dir, ok := rootfses[builder.PlatformID(p)]
		if !ok {
			continue
		}
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			return "", err
		}
		locals["rootfs-"+p.Architecture] = fs
		ps = append(ps, p)
	}
	resp, err := e.Client.Build(ctx, client.SolveOpt{
		LocalMounts: locals,
		Exports: []client.ExportEntry{{
			Type:  client.ExporterImage,
			Attrs: map[string]string{"name": name, "push": "true"},
		}},
	}, "imagebuild-test", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		out := gateway.NewResult()
		var exp exptypes.Platforms
		for _, p := range ps {
			local := "rootfs-" + p.Architecture
			st := llb.Scratch().File(llb.Copy(llb.Local(local, llb.SharedKeyHint("imagebuild-testbase-"+p.Architecture)), "/", "/"),
				llb.WithCustomName("import test base rootfs "+platforms.Format(p)))
			def, err := st.Marshal(ctx, llb.Platform(p))
			if err != nil {
				return nil, err
			}
			res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
			if err != nil {
				return nil, err
			}
			ref, err := res.SingleRef()
			if err != nil {
				return nil, err
			}
			config, err := json.Marshal(ocispecs.Image{
				Platform: p,
				Config: ocispecs.ImageConfig{
					Env: []string{"PATH=" + graph.DefaultPath, "LANG=C.UTF-8"},
					Cmd: []string{"python3"},
				},
			})
			if err != nil {
				return nil, err
			}
			id := builder.PlatformID(p)
			out.AddRef(id, ref)
			out.AddMeta(exptypes.ExporterImageConfigKey+"/"+id, config)
			exp.Platforms = append(exp.Platforms, exptypes.Platform{ID: id, Platform: p})
		}
		dt, err := json.Marshal(exp)
		if err != nil {
			return nil, err
		}
		out.AddMeta(exptypes.ExporterPlatformsKey, dt)
		return out, nil
	}, nil)
	if err != nil {
		return "", err
	}
	dgst := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if dgst == "" {
		return "", errors.New("exporter returned no digest")
	}
	return ref.ParsePin(name + "@" + dgst)
}

// Prune empties the daemon's whole build cache, so the next build is cold.
func (e *Env) Prune(t testing.TB) {
	t.Helper()
	Prune(t, e.Client)
}

// Prune empties the whole build cache of the daemon c is connected to, as
// a fresh CI runner's daemon starts.
func Prune(t testing.TB, c *client.Client) {
	t.Helper()
	ch := make(chan client.UsageInfo)
	go func() {
		for range ch {
		}
	}()
	err := c.Prune(context.Background(), ch, client.PruneAll)
	close(ch)
	if err != nil {
		t.Fatal(err)
	}
}

// Buildctl returns the path of the buildctl that scripts/buildkitd.sh builds
// at go.mod's BuildKit version.
func Buildctl(t testing.TB) string {
	t.Helper()
	dir, err := script(context.Background(), "buildkitd.sh", "--bin")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "buildctl")
}

var (
	commandsMu sync.Mutex
	commands   = map[string]string{}
)

// BuildCLI builds imagebuild's command once per test binary and returns
// its path, so a test or benchmark runs it as a user does.
func BuildCLI(t testing.TB) string {
	t.Helper()
	return BuildCommand(t, "./cmd/imagebuild")
}

// TestCommand is the main package of the command line with the recipes the
// tests and benchmarks build on the Debian test base, registered as a team
// registers its own (see internal/testcmd).
const TestCommand = "./internal/testcmd"

// BuildCommand builds the main package pkg (a path from the repository's
// root, such as ./cmd/imagebuild) once per test binary and returns the
// program's path.
func BuildCommand(t testing.TB, pkg string) string {
	t.Helper()
	commandsMu.Lock()
	defer commandsMu.Unlock()
	if p, ok := commands[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "imagebuild-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", p, pkg)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v: %s", pkg, err, out)
	}
	commands[pkg] = p
	return p
}

// CompilerBase returns the test base with a C compiler and Python's headers
// (gcc, libc6-dev and python3-dev from Debian's mirror), pushed to the test
// registry and pinned by digest: a base on which the python-alpine recipe,
// whose stand-in apk installs nothing, compiles source distributions.
func (e *Env) CompilerBase(t testing.TB) ref.Pin {
	t.Helper()
	ctx := context.Background()
	name := e.Registry + "/imagebuild-test/debian-gcc:bookworm"
	resp, err := e.Client.Build(ctx, client.SolveOpt{
		Exports: []client.ExportEntry{{
			Type:  client.ExporterImage,
			Attrs: map[string]string{"name": name, "push": "true", "oci-mediatypes": "true"},
		}},
	}, "imagebuild-test", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		_, _, config, err := gw.ResolveImageConfig(ctx, e.Base.String(), sourceresolver.Opt{
			ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &Platform, ResolveMode: llb.ResolveModeDefault.String()},
		})
		if err != nil {
			return nil, err
		}
		st := llb.Image(e.Base.String()).Run(
			llb.Shlex(`sh -c "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev python3-dev && rm -rf /var/lib/apt/lists/*"`),
			llb.WithCustomName("install gcc, libc6-dev and python3-dev"),
		).Root()
		res, err := solveState(ctx, gw, st)
		if err != nil {
			return nil, err
		}
		res.AddMeta(exptypes.ExporterImageConfigKey, config)
		return res, nil
	}, nil)
	if err != nil {
		t.Fatalf("make the compiler base: %v", err)
	}
	pin, err := ref.ParsePin(name + "@" + resp.ExporterResponse[exptypes.ExporterImageDigestKey])
	if err != nil {
		t.Fatal(err)
	}
	return pin
}

// ExportedDigests returns the digests of the images (manifests or indexes)
// that the daemon c is connected to exported in the builds it recorded as
// started at or after since, from its own build history.
func ExportedDigests(t testing.TB, c *client.Client, since time.Time) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		t.Fatalf("read the daemon's build history: %v", err)
	}
	var out []string
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the daemon's build history: %v", err)
		}
		r := ev.Record
		if r == nil || r.CreatedAt == nil || r.CreatedAt.AsTime().Before(since) {
			continue
		}
		results := []*controlapi.BuildResultInfo{r.Result}
		for _, res := range r.Results {
			results = append(results, res)
		}
		for _, res := range results {
			if res == nil {
				continue
			}
			descs := []*controlapi.Descriptor{res.ResultDeprecated}
			for _, d := range res.Results {
				descs = append(descs, d)
			}
			for _, d := range descs {
				if d != nil && d.Digest != "" && !slices.Contains(out, d.Digest) {
					out = append(out, d.Digest)
				}
			}
		}
	}
	return out
}
