package output

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

func TestLayoutOutputIsStagedBesideItsDestination(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "image")
	out := Output{Type: client.ExporterOCI, Dest: dest, Attrs: map[string]string{"tar": "false"}}

	var st Stage
	e, err := st.Entry(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Output != nil || e.OutputDir == "" {
		t.Fatalf("tar=false: want a directory export (OutputDir), got Output %v, OutputDir %q", e.Output != nil, e.OutputDir)
	}
	if filepath.Dir(e.OutputDir) != dir || e.OutputDir == dest {
		t.Errorf("staged in %s, want a partial folder beside %s", e.OutputDir, dest)
	}
	if err := os.WriteFile(filepath.Join(e.OutputDir, "index.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("%s exists before the build succeeded (%v)", dest, err)
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Discard()
	if _, err := os.Stat(filepath.Join(dest, "index.json")); err != nil {
		t.Errorf("after commit: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after commit %s holds %d entries, want the layout alone", dir, len(entries))
	}

	// A build that fails leaves neither the layout nor its partial folder,
	// and an earlier layout at the destination stays as it was.
	var failed Stage
	e, err = failed.Entry(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.OutputDir, "index.json"), []byte(`{"partial":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	failed.Discard()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after a failed build %s holds %d entries, want the earlier layout alone", dir, len(entries))
	}
	if dt, err := os.ReadFile(filepath.Join(dest, "index.json")); err != nil || string(dt) != "{}" {
		t.Errorf("earlier layout's index.json: %q, %v", dt, err)
	}
}

// TestTarballIsReadBackAndReplaced: an oci tarball output's manifests are
// read back ([ReadBack.Outputs]) from the file written, which must hold the image checked, and
// the file then replaces an earlier one at its destination, whole.
func TestTarballIsReadBackAndReplaced(t *testing.T) {
	img, err := random.Image(5<<20, 2) // layers above maxManifestBlob
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	stream := ociTarball(t, img, amd64)

	dir := t.TempDir()
	dest := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(dest, []byte("an earlier build"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := Output{Type: client.ExporterOCI, Dest: dest}
	var st Stage
	defer st.Discard()
	e, err := st.Entry(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.Output(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	platforms := map[string]ocispecs.Platform{"linux/amd64": amd64}
	outs := []Output{out}
	checked := &ReadBack{Platforms: platforms, Manifests: map[string]digest.Digest{"linux/amd64": digest.Digest(d.String())}}
	if err := checked.Outputs(context.Background(), &st, outs); err != nil {
		t.Errorf("read back the image checked: %v", err)
	}
	unchecked := &ReadBack{Platforms: platforms}
	if err := unchecked.Outputs(context.Background(), &st, outs); err != nil {
		t.Errorf("read back with nothing checked: %v", err)
	} else if diff := cmp.Diff(checked.Manifests, unchecked.Manifests); diff != "" {
		t.Errorf("manifests read back (-want +got):\n%s", diff)
	}
	other := &ReadBack{Platforms: platforms, Manifests: map[string]digest.Digest{"linux/amd64": digest.FromString("another image")}}
	if err := other.Outputs(context.Background(), &st, outs); err == nil || !strings.Contains(err.Error(), "not "+digest.FromString("another image").String()) {
		t.Errorf("read back an image other than the one checked: %v, want an error naming both", err)
	}

	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, stream) {
		t.Fatalf("%s: %d bytes (%v), want the %d bytes sent", dest, len(got), err, len(stream))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after commit %s holds %d entries, want the tarball alone", dir, len(entries))
	}
}

// ociTarball returns img as the oci exporter writes it: an OCI layout, with
// img for p in its index, as a tarball.
func ociTarball(t *testing.T, img v1.Image, p ocispecs.Platform) []byte {
	t.Helper()
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithPlatform(v1.Platform{OS: p.OS, Architecture: p.Architecture})); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
