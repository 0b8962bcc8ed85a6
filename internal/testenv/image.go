package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"encoding/json"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// OCIImage reads the image in an OCI tarball, as the oci exporter writes it.
func OCIImage(t testing.TB, path string) v1.Image {
	t.Helper()
	img, err := oci.OpenImage(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DockerImage reads the single image in a docker tarball, as the docker exporter writes it.
func DockerImage(t testing.TB, path string) v1.Image {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("read docker tarball %s: %v", path, err)
	}
	return img
}

// File is one entry of an image's flattened filesystem.
type File struct {
	Header *tar.Header
	// Data is the content of regular files of up to 1 MiB.
	Data []byte
}

// Files flattens img's layers and returns its entries by path (no leading
// slash, as in layer tars: "etc/passwd").
func Files(t testing.TB, img v1.Image) map[string]File {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]File{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read image filesystem: %v", err)
		}
		f := File{Header: h}
		if h.Typeflag == tar.TypeReg && h.Size <= 1<<20 {
			if f.Data, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = f
	}
}

// Run runs args in the image ref (which must be in a registry the daemon
// reaches) as the image config's user, working directory and environment,
// and returns what it printed on stdout and stderr.
func (e *Env) Run(ctx context.Context, ref string, args ...string) (string, error) {
	return e.RunOn(ctx, ref, Platform, args...)
}

// RunOn is [Env.Run] of the image of ref for the platform p: under QEMU
// emulation for [Arm64].
func (e *Env) RunOn(ctx context.Context, ref string, p ocispecs.Platform, args ...string) (string, error) {
	var out []byte
	_, err := e.Client.Build(ctx, client.SolveOpt{}, "imagebuild-test", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		_, _, cfgJSON, err := gw.ResolveImageConfig(ctx, ref, sourceresolver.Opt{
			ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p, ResolveMode: llb.ResolveModeDefault.String()},
		})
		if err != nil {
			return nil, err
		}
		var cfg dockerspec.DockerOCIImage
		if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
			return nil, err
		}
		st, err := llb.Image(ref, llb.Platform(p)).Platform(p).WithImageConfig(cfgJSON)
		if err != nil {
			return nil, err
		}
		if cfg.Config.User != "" {
			st = st.User(cfg.Config.User)
		}
		outDir := llb.Scratch().File(llb.Mkdir("/out", 0o777))
		run := st.Run(
			llb.Args(append([]string{"/bin/sh", "-c", `"$@" >/imagebuild-out/output 2>&1`, "sh"}, args...)),
			llb.AddMount("/imagebuild-out", outDir, llb.SourcePath("/out")),
			llb.IgnoreCache,
		)
		res, err := solveState(ctx, gw, run.GetMount("/imagebuild-out"))
		if err != nil {
			return nil, err
		}
		out, err = readFile(ctx, res, "/out/output")
		return res, err
	}, nil)
	return string(out), err
}

// RegistryImage reads ref from the test registry.
func RegistryImage(t testing.TB, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

// PushImage pushes img to ref, a registry on loopback spoken to in plain
// HTTP, and returns img's digest.
func PushImage(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// RegistryPlatformImage reads p's image of ref from the test registry.
func RegistryPlatformImage(t testing.TB, ref string, p ocispecs.Platform) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}))
	if err != nil {
		t.Fatalf("pull %s for %s: %v", ref, p.Architecture, err)
	}
	return img
}

// RegistryIndex reads the index ref points at in the test registry.
func RegistryIndex(t testing.TB, ref string) v1.ImageIndex {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pull index %s: %v", ref, err)
	}
	return idx
}

// ReadFile solves st, with contextDir as the build context, and reads path from it.
func (e *Env) ReadFile(ctx context.Context, st llb.State, contextDir, path string) ([]byte, error) {
	fs, err := fsutil.NewFS(contextDir)
	if err != nil {
		return nil, err
	}
	var out []byte
	_, err = e.Client.Build(ctx, client.SolveOpt{LocalMounts: map[string]fsutil.FS{graph.ContextName: fs}}, "imagebuild-test",
		func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
			res, err := solveState(ctx, gw, st)
			if err != nil {
				return nil, err
			}
			out, err = readFile(ctx, res, path)
			return res, err
		}, nil)
	return out, err
}

// Blob is one file of an OCI tarball, layers uncompressed.
type Blob struct {
	Name string
	Data []byte
}

// Blobs returns every file of the OCI tarball at path (index, manifests,
// configs, attestations), with gzip-compressed layers uncompressed.
func Blobs(t testing.TB, path string) []Blob {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Blob
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dt, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if len(dt) > 2 && dt[0] == 0x1f && dt[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(dt))
			if err != nil {
				t.Fatal(err)
			}
			if dt, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
		}
		out = append(out, Blob{Name: h.Name, Data: dt})
	}
}

// solveState marshals st for the test platform and solves it.
func solveState(ctx context.Context, gw gateway.Client, st llb.State) (*gateway.Result, error) {
	def, err := st.Marshal(ctx, llb.Platform(Platform))
	if err != nil {
		return nil, err
	}
	return gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
}

// readFile reads path from a solved result's single ref.
func readFile(ctx context.Context, res *gateway.Result, path string) ([]byte, error) {
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	return ref.ReadFile(ctx, gateway.ReadRequest{Filename: path})
}

// LayerSizes returns the compressed size of each of img's layers.
func LayerSizes(t testing.TB, img v1.Image) []int64 {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	sizes := make([]int64, 0, len(layers))
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, s)
	}
	return sizes
}

// PlatformManifests returns the manifest digest of each platform's image
// in idx (attestations left out), by platform ID (linux/amd64).
func PlatformManifests(t testing.TB, idx v1.ImageIndex) map[string]string {
	t.Helper()
	ps, err := oci.Platforms(idx)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range ps {
		img, err := oci.Image(idx, p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		m[builder.PlatformID(p)] = d.String()
	}
	return m
}
