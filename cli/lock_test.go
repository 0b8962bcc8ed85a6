package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client/llb"
)

// runLockCLI runs `imagebuild lock` with args and the recipes rs, and
// returns stdout, stderr and the exit code.
func runLockCLI(t *testing.T, args []string, rs ...recipes.Recipe) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"lock"}, args...), &stdout, &stderr, rs...)
	return stdout.String(), stderr.String(), code
}

// readLockFile reads the context's lock file.
func readLockFile(t *testing.T, ctxDir string) *recipes.Lock {
	t.Helper()
	dt, err := os.ReadFile(filepath.Join(ctxDir, recipes.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := recipes.ParseLock(dt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeLockFile(t *testing.T, ctxDir string, l *recipes.Lock) {
	t.Helper()
	dt, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, recipes.LockFile), dt, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLockReleaseBuild is a release build any day: hiredis, hash-locked,
// compiled from its sdist with gcc from Debian's mirror, on a daemon of
// the test's own pruned before each build (a fresh CI runner).
// `imagebuild lock --push` records the builder stage's packages (from the
// real mirror), hiredis's build requirements and the builder image. Then
// the index gains a newer release of every build requirement:
//   - a build without the lock takes them, and its image differs (the
//     attack the lock stops: whatever the index serves that day is
//     compiled with);
//   - two cold builds from the lock, one on each side of the index's
//     change, running the package manager, give one digest;
//   - a cold build from the builder image runs no apt-get step and gives
//     that digest too.
func TestLockReleaseBuild(t *testing.T) {
	env := testenv.Get(t)
	d := testenv.StartTLSDaemon(t)
	addr := "unix://" + d.Socket
	idx := testenv.ServeRealIndex(t)
	pipconf := testenv.PipConf(t, idx.PipConf())
	sum := sha256.Sum256(idx.File("hiredis-2.3.2.tar.gz"))
	ctxDir := testenv.ExampleContext(t, "hiredis==2.3.2 --hash=sha256:"+hex.EncodeToString(sum[:])+"\n")
	out := t.TempDir()
	builderRef := env.Registry + "/imagebuild-test/lock-builder:1"

	stdout, stderr, code := runLockCLI(t, []string{"slim-compile", "--addr", addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src=" + pipconf, "--progress", "quiet", "--platform", "linux/amd64", "--push", builderRef}, slimCompile)
	if code != 0 {
		t.Fatalf("lock --push exited %d\n%s", code, stderr)
	}
	withBuilder := readLockFile(t, ctxDir)
	if !strings.HasPrefix(string(withBuilder.Builder), builderRef+"@sha256:") || strings.TrimSpace(stdout) != string(withBuilder.Builder) {
		t.Errorf("lock --push printed %q, and the lock records the builder %q; want %s@sha256:...", stdout, withBuilder.Builder, builderRef)
	}
	pl := withBuilder.Platforms["linux/amd64"]
	if pl.Base != env.Base || pl.Distro != "debian" || !slices.Equal(pl.Requested, []string{"gcc", "libc6-dev", "python3-dev"}) {
		t.Errorf("the lock's linux/amd64: base %s, distro %s, requested %q", pl.Base, pl.Distro, pl.Requested)
	}
	byName := map[string]recipes.Package{}
	for _, p := range pl.Packages {
		byName[p.Name] = p
	}
	for _, want := range []string{"gcc", "gcc-12", "libc6-dev", "python3-dev", "libpython3.11-dev"} {
		if p, ok := byName[want]; !ok || len(p.Checksum) != 64 || p.Arch == "" || p.Version == "" {
			t.Errorf("the lock records %s as %+v; want its version, architecture and the .deb's SHA-256 from the mirror's index", want, p)
		}
	}
	hiredis, ok := pl.Distributions["hiredis==2.3.2"]
	if !ok || hiredis.File != "hiredis-2.3.2.tar.gz" {
		t.Fatalf("the lock records hiredis as %+v (all: %+v)", hiredis, pl.Distributions)
	}
	var reqNames []string
	for _, f := range hiredis.Requires {
		reqNames = append(reqNames, f.Name+" "+f.Version)
		got := sha256.Sum256(idx.File(f.File))
		if hex.EncodeToString(got[:]) != f.SHA256 {
			t.Errorf("the lock gives %s the sha256 %s; the index serves it with %x", f.File, f.SHA256, got)
		}
	}
	if !slices.Contains(reqNames, "setuptools 78.1.1") {
		t.Errorf("the lock records hiredis's build requirements as %q; want setuptools 78.1.1 among them", reqNames)
	}

	withoutBuilder := *withBuilder
	withoutBuilder.Builder = ""
	writeLockFile(t, ctxDir, &withoutBuilder)
	locked := func(name string, flags ...string) (string, string) {
		t.Helper()
		prune(t, addr)
		stdout, stderr, code := buildCompiled(t, env, addr, ctxDir, pipconf, filepath.Join(out, name+".oci.tar"), append([]string{"--platform", "linux/amd64"}, flags...)...)
		if code != 0 {
			t.Fatalf("%s: exited %d\n%s", name, code, stderr)
		}
		return strings.TrimSpace(stdout), stderr
	}
	metadata := filepath.Join(out, "metadata.json")
	first, stderr := locked("locked-before", "--metadata-file", metadata)
	if strings.Contains(stderr, "floats") {
		t.Errorf("a build from a lock says the builder stage floats:\n%s", stderr)
	}
	var md struct {
		Reports map[string]map[string]recipes.StepReport `json:"imagebuild.reports"`
	}
	if dt, err := os.ReadFile(metadata); err != nil || json.Unmarshal(dt, &md) != nil {
		t.Fatalf("metadata file: %v\n%s", err, dt)
	}
	if r := md.Reports["linux/amd64"]["hiredis 2.3.2"]; !r.Compiled || r.File != "hiredis-2.3.2.tar.gz" || !strings.HasPrefix(r.Wheel, "hiredis-2.3.2-cp311-cp311-") {
		t.Errorf("the metadata file reports hiredis on linux/amd64 as %+v; want compiled from hiredis-2.3.2.tar.gz (all: %+v)", r, md.Reports)
	}

	// The index gains a newer release of every build requirement.
	for _, f := range hiredis.Requires {
		name, data := testenv.BumpWheel(t, f.File, idx.File(f.File), bumped(f.Version))
		idx.Add(name, data)
	}

	second, _ := locked("locked-after")
	if second != first {
		t.Errorf("two cold builds from one lock, the index having gained newer build requirements in between: %s and %s, want one digest", first, second)
	}

	writeLockFile(t, ctxDir, withBuilder)
	prune(t, addr)
	var plain bytes.Buffer
	args := []string{"build", "slim-compile", "--addr", addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src=" + pipconf, "--progress", "plain", "--source-date-epoch", "1700000000", "--platform", "linux/amd64",
		"-o", "type=oci,dest=" + filepath.Join(out, "builder-image.oci.tar")}
	var bstdout bytes.Buffer
	if code := Run(context.Background(), args, &bstdout, &plain, slimCompile); code != 0 {
		t.Fatalf("build from the builder image exited %d\n%s", code, plain.String())
	}
	if got := strings.TrimSpace(bstdout.String()); got != first {
		t.Errorf("a cold build from the lock's builder image gave %s; the build from the same lock that ran apt-get gave %s", got, first)
	}
	if want := "imagebuild: linux/amd64: 0 distributions installed from wheels, 1 compiled from source (hiredis 2.3.2)\n"; !strings.Contains(plain.String(), want) {
		t.Errorf("the progress does not say what was compiled: want %q in\n%s", want, plain.String())
	}
	for _, step := range []string{"install build dependencies", "apt-get", "python3 -m venv"} {
		if strings.Contains(plain.String(), step) {
			t.Errorf("a build from the builder image ran a step with %q:\n%s", step, plain.String())
		}
	}

	// Without the lock the build takes what the index serves now.
	if err := os.Remove(filepath.Join(ctxDir, recipes.LockFile)); err != nil {
		t.Fatal(err)
	}
	floating, stderr := locked("floating")
	if floating == first {
		t.Errorf("without the lock, after the index gained newer build requirements, the build gave the locked digest %s: the bump this test makes changes nothing, so the lock's test proves nothing", first)
	}
	if !strings.Contains(stderr, "imagebuild: warning: "+recipes.FloatingBuilder) {
		t.Errorf("a build without a lock does not say the builder stage floats:\n%s", stderr)
	}
}

// bumped is version with one more patch release: 78.1.1 → 78.1.2.
func bumped(version string) string {
	i := strings.LastIndex(version, ".")
	n, err := strconv.Atoi(version[i+1:])
	if err != nil {
		panic("bumped: " + version)
	}
	return version[:i+1] + strconv.Itoa(n+1)
}

// lockJSON is the lock as JSON, for messages.
func lockJSON(l *recipes.Lock) string {
	dt, _ := json.MarshalIndent(l, "", " ")
	return string(dt)
}

// TestLockedPackageGone builds from a lock whose package the mirror no
// longer serves, on a stand-in Debian mirror (testenv.AptRepo, the test
// base's only apt source): the build fails in one line naming the
// package, and writes nothing; a lock whose checksum the mirror's index
// does not give is refused the same way.
func TestLockedPackageGone(t *testing.T) {
	env := testenv.Get(t)
	repo := testenv.NewAptRepo(t)
	sum1 := repo.Add("imagebuild-test-a", "1", "amd64", []byte("a one\n"))
	base := env.AptBase(t, repo)
	r := recipes.Named("slim-apt", "python-slim with a package of the stand-in mirror", recipes.PythonSlim{Packages: []string{"imagebuild-test-a"}})
	ctxDir := testenv.ExampleContext(t, "")
	common := []string{"--addr", env.Addr, "--context", ctxDir, "--base", base.String(), "--progress", "quiet", "--platform", "linux/amd64"}

	if _, stderr, code := runLockCLI(t, append([]string{"slim-apt"}, common...), r); code != 0 {
		t.Fatalf("lock exited %d\n%s", code, stderr)
	}
	l := readLockFile(t, ctxDir)
	want := []recipes.Package{{Name: "imagebuild-test-a", Version: "1", Arch: "amd64", Checksum: sum1}}
	if got := l.Platforms["linux/amd64"].Packages; !slices.Equal(got, want) {
		t.Fatalf("the lock records the packages %+v, want %+v\n%s", got, want, lockJSON(l))
	}
	build := func(dest string) (string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append([]string{"build", "slim-apt", "--no-cache", "-o", "type=oci,dest=" + dest}, common...)
		code := Run(context.Background(), args, &stdout, &stderr, r)
		return stderr.String(), code
	}
	out := t.TempDir()
	if stderr, code := build(filepath.Join(out, "ok.oci.tar")); code != 0 {
		t.Fatalf("build from the lock exited %d\n%s", code, stderr)
	}

	repo.Remove("imagebuild-test-a", "1")
	sum2 := repo.Add("imagebuild-test-a", "2", "amd64", []byte("a two\n"))
	dest := filepath.Join(out, "gone.oci.tar")
	stderr, code := build(dest)
	wantLine := `imagebuild: step "builder: install build dependencies, as imagebuild.lock records them" failed: the mirror no longer serves imagebuild-test-a 1 (amd64), which imagebuild.lock records;`
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, wantLine) {
		t.Errorf("a build from a lock whose package the mirror no longer serves: exit %d, stderr:\n%s\nwant exit 1 and one line starting %q", code, stderr, wantLine)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("the failed build wrote %s (%v)", dest, err)
	}

	// Locked again, the lock takes version 2; a checksum the index does
	// not give is refused.
	if _, stderr, code := runLockCLI(t, append([]string{"slim-apt"}, common...), r); code != 0 {
		t.Fatalf("lock again exited %d\n%s", code, stderr)
	}
	l = readLockFile(t, ctxDir)
	pl := l.Platforms["linux/amd64"]
	if len(pl.Packages) != 1 || pl.Packages[0].Version != "2" || pl.Packages[0].Checksum != sum2 {
		t.Fatalf("locked again: %+v, want imagebuild-test-a 2 with %s", pl.Packages, sum2)
	}
	forged := strings.Repeat("0", 64)
	pl.Packages[0].Checksum = forged
	l.Platforms["linux/amd64"] = pl
	writeLockFile(t, ctxDir, l)
	stderr, code = build(filepath.Join(out, "forged.oci.tar"))
	wantLine = `failed: the mirror serves imagebuild-test-a 2 (amd64) with SHA-256 ` + sum2 + `, not the ` + forged + ` imagebuild.lock records`
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, wantLine) {
		t.Errorf("a build from a lock whose checksum the mirror does not give: exit %d, stderr:\n%s\nwant exit 1 and one line with %q", code, stderr, wantLine)
	}
}

// TestLockTwoPlatforms locks a package of the stand-in mirror for
// linux/amd64 and linux/arm64 (its apt-get under QEMU): each platform
// records its own architecture's package, by its own checksum, and a
// two-platform build follows the lock.
func TestLockTwoPlatforms(t *testing.T) {
	env := testenv.Get(t)
	repo := testenv.NewAptRepo(t)
	sums := map[string]string{
		"amd64": repo.Add("imagebuild-test-b", "1", "amd64", []byte("b amd64\n")),
		"arm64": repo.Add("imagebuild-test-b", "1", "arm64", []byte("b arm64\n")),
	}
	base := env.AptBase(t, repo)
	r := recipes.Named("slim-apt", "python-slim with a package of the stand-in mirror", recipes.PythonSlim{Packages: []string{"imagebuild-test-b"}})
	ctxDir := testenv.ExampleContext(t, "")
	common := []string{"--addr", env.Addr, "--context", ctxDir, "--base", base.String(), "--progress", "quiet", "--platform", "linux/amd64,linux/arm64"}
	if _, stderr, code := runLockCLI(t, append([]string{"slim-apt"}, common...), r); code != 0 {
		t.Fatalf("lock exited %d\n%s", code, stderr)
	}
	l := readLockFile(t, ctxDir)
	if len(l.Platforms) != 2 {
		t.Fatalf("the lock has %d platforms, want 2\n%s", len(l.Platforms), lockJSON(l))
	}
	for arch, sum := range sums {
		want := []recipes.Package{{Name: "imagebuild-test-b", Version: "1", Arch: arch, Checksum: sum}}
		if got := l.Platforms["linux/"+arch].Packages; !slices.Equal(got, want) {
			t.Errorf("linux/%s: the lock records %+v, want %+v", arch, got, want)
		}
	}
	var stdout, stderr bytes.Buffer
	args := append([]string{"build", "slim-apt", "-o", "type=oci,dest=" + filepath.Join(t.TempDir(), "two.oci.tar")}, common...)
	if code := Run(context.Background(), args, &stdout, &stderr, r); code != 0 {
		t.Fatalf("a two-platform build from the lock exited %d\n%s", code, stderr.String())
	}
}

// TestPinsLock: `pins check` finds the lock's package that has a newer
// release on the (stand-in) mirror, and `pins bump` locks again and pushes
// the builder image again to its tag.
func TestPinsLock(t *testing.T) {
	env := testenv.Get(t)
	repo := testenv.NewAptRepo(t)
	repo.Add("imagebuild-test-c", "1", "amd64", []byte("c one\n"))
	base := env.AptBase(t, repo)
	// The recipe's own pin is the test base, so that pins check reaches
	// its registry.
	r := recipes.Named("slim-apt", "python-slim with a package of the stand-in mirror", recipes.PythonSlim{Base: base, Packages: []string{"imagebuild-test-c"}})
	ctxDir := testenv.ExampleContext(t, "")
	builderRef := env.Registry + "/imagebuild-test/pins-lock-builder:1"
	if _, stderr, code := runLockCLI(t, []string{"slim-apt", "--addr", env.Addr, "--context", ctxDir, "--progress", "quiet", "--platform", "linux/amd64", "--push", builderRef}, r); code != 0 {
		t.Fatalf("lock exited %d\n%s", code, stderr)
	}
	before := readLockFile(t, ctxDir)
	pins := func(verb string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), []string{"pins", verb, "--context", ctxDir, "--addr", env.Addr}, &stdout, &stderr, r)
		return stdout.String(), stderr.String(), code
	}
	if stdout, stderr, code := pins("check"); code != 0 || !strings.Contains(stdout, recipes.LockFile+": current") || !strings.Contains(stdout, "builder image "+builderRef+": current") {
		t.Fatalf("pins check of a current lock: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	repo.Add("imagebuild-test-c", "2", "amd64", []byte("c two\n"))
	stdout, stderr, code := pins("check")
	if code != 1 || !strings.Contains(stdout, "linux/amd64: package imagebuild-test-c:amd64 1 (") || !strings.Contains(stdout, ") -> 2 (") ||
		!strings.Contains(stderr, "imagebuild.lock is stale: 1 packages or build requirements have newer releases") {
		t.Errorf("pins check after the mirror gained a newer release: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if after := readLockFile(t, ctxDir); lockJSON(after) != lockJSON(before) {
		t.Errorf("pins check changed the lock")
	}

	if stdout, stderr, code := pins("bump"); code != 0 || !strings.Contains(stdout, "locked again") {
		t.Fatalf("pins bump: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	after := readLockFile(t, ctxDir)
	if got := after.Platforms["linux/amd64"].Packages; len(got) != 1 || got[0].Version != "2" {
		t.Errorf("after pins bump the lock records %+v, want imagebuild-test-c 2", got)
	}
	if after.Builder == before.Builder || !strings.HasPrefix(string(after.Builder), builderRef+"@") {
		t.Errorf("after pins bump the builder image is %s (was %s), want a new digest under %s", after.Builder, before.Builder, builderRef)
	}
	if after.Recipe != "slim-apt" {
		t.Errorf("the lock names the recipe %q", after.Recipe)
	}
	if stdout, stderr, code := pins("check"); code != 0 {
		t.Errorf("pins check after the bump: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// fakeApk stands in for Alpine's apk on the Debian test base (Alpine's
// image and mirrors cannot be reached here): `apk add [--update-cache]
// NAME[=VERSION]...` "installs" each package the index file
// /run/fake-apk/index lists (name, version, architecture, checksum,
// tab-separated; the last line of a name is its newest) by adding its
// entry to apk's database, /lib/apk/db/installed, as apk does, and fails
// as apk does for a version the index lacks; with --simulate it only
// checks.
const fakeApk = `#!/bin/sh
set -eu
[ "$1" = add ] || { echo "fake apk: $*: only add" >&2; exit 2; }
shift
simulate=
mkdir -p /lib/apk/db
for arg in "$@"; do
	case "$arg" in --simulate) simulate=1; continue ;; --*) continue ;; esac
	name=${arg%%=*}
	if [ "$name" = "$arg" ]; then
		line=$(awk -F '\t' -v n="$name" '$1 == n' /run/fake-apk/index | tail -n 1)
	else
		line=$(awk -F '\t' -v n="$name" -v v="${arg#*=}" '$1 == n && $2 == v' /run/fake-apk/index | tail -n 1)
	fi
	if [ -z "$line" ]; then
		echo "ERROR: unable to select packages:" >&2
		echo "  $arg (no such package)" >&2
		exit 1
	fi
	[ -z "$simulate" ] || continue
	printf '%s\n' "$line" | awk -F '\t' '{ printf "P:%s\nV:%s\nA:%s\nC:%s\n\n", $1, $2, $3, $4 }' >>/lib/apk/db/installed
done
`

// TestAlpineLockScripts runs the Alpine distribution's lock commands (see
// recipes.Alpine's RecordCommand and LockedCommand) with fakeApk on the
// Debian test base: the record is what apk's database gained, with
// APKINDEX's checksums; a locked install of a version the mirror no
// longer serves, or whose checksum differs, fails with one line naming
// it. Real apk is not run here: its image and mirrors cannot be reached.
func TestAlpineLockScripts(t *testing.T) {
	env := testenv.Get(t)
	run := func(index string, args []string) (log, rc, record string) {
		t.Helper()
		tools := llb.Scratch().
			File(llb.Mkfile("/apk", 0o755, []byte(fakeApk))).
			File(llb.Mkfile("/index", 0o644, []byte(index)))
		wrapped := append([]string{"/bin/sh", "-c", `"$@" >/out/log 2>&1; echo $? >/out/rc; cp /out/record /out/record.tsv 2>/dev/null || true`, "sh"}, args...)
		st := llb.Image(env.Base.String(), llb.Platform(testenv.Platform)).Run(
			llb.Args(wrapped),
			llb.AddMount("/sbin/apk", tools, llb.SourcePath("/apk"), llb.Readonly),
			llb.AddMount("/run/fake-apk/index", tools, llb.SourcePath("/index"), llb.Readonly),
			llb.IgnoreCache,
		).AddMount("/out", llb.Scratch())
		for _, f := range []struct {
			path string
			into *string
		}{{"/log", &log}, {"/rc", &rc}, {"/record.tsv", &record}} {
			dt, err := env.ReadFile(context.Background(), st, t.TempDir(), f.path)
			if err != nil && f.path != "/record.tsv" {
				t.Fatalf("read %s: %v", f.path, err)
			}
			*f.into = strings.TrimSpace(string(dt))
		}
		return log, rc, record
	}
	sumA, sumB := "Q1"+strings.Repeat("A", 26)+"=", "Q1"+strings.Repeat("B", 26)+"="
	index := "gcc\t13.2.1_git20231014-r0\tx86_64\t" + sumA + "\nlibpq-dev\t16.1-r0\tx86_64\t" + sumB + "\n"

	_, rc, record := run(index, recipes.Alpine.RecordCommand([]string{"gcc", "libpq-dev"}, "/out/record"))
	want := "gcc\t13.2.1_git20231014-r0\tx86_64\t" + sumA + "\nlibpq-dev\t16.1-r0\tx86_64\t" + sumB
	if rc != "0" || record != want {
		t.Fatalf("the Alpine record: exit %s, record:\n%q\nwant:\n%q", rc, record, want)
	}

	locked := []recipes.Package{{Name: "gcc", Version: "13.2.1_git20231014-r0", Arch: "x86_64", Checksum: sumA}, {Name: "libpq-dev", Version: "16.1-r0", Arch: "x86_64", Checksum: sumB}}
	if log, rc, _ := run(index, recipes.Alpine.LockedCommand(locked)); rc != "0" {
		t.Errorf("the locked install of what the mirror serves: exit %s\n%s", rc, log)
	}
	moved := "gcc\t13.2.1_git20240309-r0\tx86_64\t" + sumA + "\nlibpq-dev\t16.1-r0\tx86_64\t" + sumB + "\n"
	if log, rc, _ := run(moved, recipes.Alpine.LockedCommand(locked)); rc != "1" || !strings.Contains(log, "gcc=13.2.1_git20231014-r0 (no such package)") ||
		!strings.Contains(log, "imagebuild: error: the mirror no longer serves gcc 13.2.1_git20231014-r0 (x86_64), which imagebuild.lock records;") {
		t.Errorf("the locked install of a version the mirror no longer serves: exit %s\n%s", rc, log)
	}
	forged := "gcc\t13.2.1_git20231014-r0\tx86_64\tQ1" + strings.Repeat("C", 26) + "=\nlibpq-dev\t16.1-r0\tx86_64\t" + sumB + "\n"
	if log, rc, _ := run(forged, recipes.Alpine.LockedCommand(locked)); rc != "1" || !strings.Contains(log, "imagebuild: error: apk installed gcc 13.2.1_git20231014-r0 (x86_64) with checksum Q1"+strings.Repeat("C", 26)+"=, which imagebuild.lock does not record; run imagebuild lock again") {
		t.Errorf("the locked install of a package whose checksum differs: exit %s\n%s", rc, log)
	}
}
