package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
)

// TestLocalOutputLinks: a local output is an image's root filesystem
// unpacked as it is: absolute and relative symlinks created as written
// (the absolute one pointing at a folder that exists on the host too,
// which a write through it would reach), modes with setuid, and as root,
// owners.
func TestLocalOutputLinks(t *testing.T) {
	env := testenv.Get(t)
	base := llb.Image(env.Base.String(), llb.Platform(testenv.Platform))
	files := base.File(llb.Mkdir("/x", 0o755).
		Mkfile("/x/tool", 0o755, []byte("tool"), llb.WithUIDGID(1234, 5678)).
		Symlink("/tmp", "/x/abs").
		Symlink("../etc/passwd", "/x/rel"))
	// A file operation cannot set setuid (it keeps 0777); a step can.
	root := files.Run(llb.Args([]string{"/bin/chmod", "4755", "/x/tool"}), llb.WithCustomName("setuid")).Root()
	img := graph.Image{Platform: testenv.Platform, Root: root, Base: env.Base}
	dest := filepath.Join(t.TempDir(), "rootfs")
	if _, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterLocal, Dest: dest}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"x/abs": "/tmp", "x/rel": "../etc/passwd"} {
		got, err := os.Readlink(filepath.Join(dest, name))
		if err != nil {
			t.Error(err)
		} else if got != want {
			t.Errorf("%s -> %q, want -> %q", name, got, want)
		}
	}
	fi, err := os.Lstat(filepath.Join(dest, "x/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if want := os.ModeSetuid | 0o755; fi.Mode() != want {
		t.Errorf("x/tool: mode %v, want %v", fi.Mode(), want)
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("x/tool owned by %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	if _, err := os.Lstat(filepath.Join(dest, "etc/passwd")); err != nil {
		t.Errorf("the base's files are not in the output: %v", err)
	}
}

// TestOCITarballOpens: the oci exporter's tarball, as BuildKit writes it,
// opens through oci's extractor, whole and manifests only, as the image
// built.
func TestOCITarballOpens(t *testing.T) {
	env := testenv.Get(t)
	root := llb.Image(env.Base.String(), llb.Platform(testenv.Platform)).File(llb.Mkfile("/hello", 0o644, []byte("hello")))
	img := graph.Image{Platform: testenv.Platform, Root: root, Base: env.Base}
	path := filepath.Join(t.TempDir(), "image.oci.tar")
	res, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: path}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := res.Manifests[builder.PlatformID(testenv.Platform)]
	got, err := oci.OpenImage(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := got.Digest(); err != nil || d.String() != want.String() {
		t.Errorf("OpenImage = %s (%v), want %s", d, err, want)
	}
	if _, err := got.Layers(); err != nil {
		t.Error(err)
	}
	idx, err := oci.OpenManifests(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := oci.Image(idx, testenv.Platform)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := m.Digest(); err != nil || d.String() != want.String() {
		t.Errorf("OpenManifests' image = %s (%v), want %s", d, err, want)
	}
}
