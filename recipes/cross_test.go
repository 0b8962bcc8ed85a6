package recipes

import (
	"slices"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}

func TestDebianCrossPackages(t *testing.T) {
	got := debianCrossPackages([]string{"gcc", "g++", "gfortran", "build-essential", "libc6-dev", "python3-dev", "python3.11-dev", "libpq-dev", "linux-libc-dev", "zlib1g-dev", "make", "pkg-config"}, crossTargets["arm64"])
	want := []string{"gcc-aarch64-linux-gnu", "g++-aarch64-linux-gnu", "gfortran-aarch64-linux-gnu", "crossbuild-essential-arm64", "libc6-dev:arm64", "libpython3-dev:arm64", "libpython3.11-dev:arm64", "libpq-dev:arm64", "linux-libc-dev:arm64", "zlib1g-dev:arm64", "make", "pkg-config"}
	if !slices.Equal(got, want) {
		t.Errorf("debianCrossPackages:\n got %q\nwant %q", got, want)
	}
}

// execPlatforms are the platforms of the graph's exec ops, by their names.
func execPlatforms(t *testing.T, img graph.Image) map[string]string {
	t.Helper()
	ops, _, _ := marshal(t, img)
	out := map[string]string{}
	for _, o := range ops {
		if _, ok := o.Op.Op.(*pb.Op_Exec); ok {
			out[o.Metadata.Description["llb.customname"]] = o.Op.Platform.Architecture
		}
	}
	return out
}

// TestCrossGraph: a locked venv for arm64 on an amd64 daemon, on Debian,
// runs every step of its builder stage on amd64 (the cross toolchain and
// the target's libraries installed through multiarch, the target's base
// mounted for its Python), each distribution's step told the target; the
// build takes a distribution that could not be cross-built from its step
// under emulation, on the arm64 builder stage, and that alone.
func TestCrossGraph(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	ctx := contextWith(t, "requirements.txt", "asyncpg==0.30.0 --hash=sha256:"+a+"\nhiredis==2.3.2 --hash=sha256:"+b+"\n")
	r := PythonSlim{Packages: []string{"gcc", "libc6-dev", "python3-dev", "make"}}
	img, err := r.Image(Inputs{Platform: arm64, Native: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if img.Expand == nil || !img.Expand.Later || len(img.Expand.Ahead) != 2 {
		t.Fatalf("Expand = %+v, want the two cross steps ahead, the graph made from their records", img.Expand)
	}
	ops, byDigest, _ := marshal(t, img)
	var install *pb.ExecOp
	for name, arch := range execPlatforms(t, img) {
		if arch != "amd64" {
			t.Errorf("the step %q runs on %s, want amd64", name, arch)
		}
	}
	for _, o := range ops {
		e, ok := o.Op.Op.(*pb.Op_Exec)
		if !ok {
			continue
		}
		switch name := o.Metadata.Description["llb.customname"]; {
		case name == "builder: install build dependencies for linux/arm64 on linux/amd64, cross":
			install = e.Exec
			var mounted bool
			for _, m := range e.Exec.Mounts {
				if m.Dest == crossRoot && m.Readonly {
					src := byDigest[digest.Digest(o.Op.Inputs[m.Input].Digest)]
					mounted = src.Platform.Architecture == "arm64"
				}
			}
			if !mounted {
				t.Error("the target's base is not mounted, read-only, at " + crossRoot)
			}
		case strings.HasPrefix(name, "builder: pip wheel and install "):
			if !strings.HasSuffix(name, " for linux/arm64, cross") || !slices.Contains(e.Exec.Meta.Env, "IMAGEBUILD_CROSS=aarch64-linux-gnu") ||
				!slices.Contains(e.Exec.Meta.Env, "IMAGEBUILD_CROSS_MACHINE=aarch64") || e.Exec.Meta.Args[2] != "cross" {
				t.Errorf("the step %q (%q, env %q) does not build for arm64", name, e.Exec.Meta.Args[2], e.Exec.Meta.Env)
			}
		}
	}
	if install == nil {
		t.Fatal("no cross install step")
	}
	if want := []string{"arm64", "aarch64-linux-gnu", "gcc-aarch64-linux-gnu", "libc6-dev:arm64", "libpython3-dev:arm64", "make"}; !slices.Equal(install.Meta.Args[4:], want) {
		t.Errorf("the install step's arguments %q, want %q", install.Meta.Args[4:], want)
	}

	// hiredis built, asyncpg not: asyncpg's step runs on arm64.
	made, err := img.Expand.Root(nil, [][]byte{[]byte(`{"error": "no"}`), []byte(`{"built": true}`)})
	if err != nil {
		t.Fatal(err)
	}
	img.Root, img.Expand = made.Root, nil
	got := execPlatforms(t, img)
	if arch := got["builder: pip wheel and install asyncpg 0.30.0, under emulation: it cannot be cross-built"]; arch != "arm64" {
		t.Errorf("asyncpg, which could not be cross-built, is built on %q, want arm64: %v", arch, got)
	}
	if arch := got["builder: install build dependencies"]; arch != "arm64" {
		t.Errorf("the emulated builder stage's packages on %q, want arm64", arch)
	}
	if _, ok := got["builder: pip wheel and install hiredis 2.3.2, under emulation: it cannot be cross-built"]; ok {
		t.Error("hiredis, which was cross-built, is built under emulation too")
	}
}

// TestNotCrossBuilt: emulation (every step on the platform) where the
// daemon's machine is not known, is the platform's, or the graph cannot be
// cross-built: Alpine (no cross toolchain), a file resolved in the build,
// a lock of the builder stage.
func TestNotCrossBuilt(t *testing.T) {
	a := strings.Repeat("ab", 32)
	locked := "hiredis==2.3.2 --hash=sha256:" + a + "\n"
	for _, tt := range []struct {
		name   string
		r      Recipe
		native ocispecs.Platform
		reqs   string
	}{
		{"no native platform", PythonSlim{}, ocispecs.Platform{}, locked},
		{"native", PythonSlim{}, arm64, locked},
		{"alpine", PythonAlpine{}, amd64, locked},
		{"resolved in the build", PythonSlim{}, amd64, "hiredis==2.3.2\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img, err := tt.r.Image(Inputs{Platform: arm64, Native: tt.native, Context: contextWith(t, "requirements.txt", tt.reqs)})
			if err != nil {
				t.Fatal(err)
			}
			for name, arch := range execPlatforms(t, expanded(t, img)) {
				if arch != "arm64" {
					t.Errorf("the step %q runs on %s, want arm64", name, arch)
				}
			}
		})
	}
}
