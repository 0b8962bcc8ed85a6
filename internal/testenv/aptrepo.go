package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/imagebuild/imagebuild/ref"
)

// AptRepo is a stand-in Debian mirror: a flat repository
// (`deb [trusted=yes] http://127.0.0.1:PORT/ ./`) served on 127.0.0.1
// until the test ends, whose packages the test adds and removes while it
// runs. It serves what apt-get update fetches from a flat repository
// without a Release file: Packages, uncompressed (apt asks for InRelease,
// Release and each compressed Packages first, and takes the 404s), and
// the .deb files Packages lists under pool/. Each package is a real .deb
// that dpkg-deb builds, installing one file, [AptPackageFile].
type AptRepo struct {
	t    testing.TB
	addr string

	mu sync.Mutex
	// debs are the packages served, by file name in the repository
	// (pool/NAME_VERSION_ARCH.deb).
	debs map[string]debPackage
}

// debPackage is one .deb the repository serves.
type debPackage struct {
	name, version string
	// control is the package's control file, which Packages repeats.
	control string
	data    []byte
	sha256  string
}

// NewAptRepo starts an empty [AptRepo]. Without Debian's dpkg-deb the
// test ends as [Unavailable] says.
func NewAptRepo(t testing.TB) *AptRepo {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		Unavailable(t, "dpkg-deb not found: install Debian's dpkg (apt-get install dpkg)")
	}
	r := &AptRepo{t: t, debs: map[string]debPackage{}}
	r.addr = serveIndex(t, http.HandlerFunc(r.serve))
	return r
}

// AptPackageFile is the file that the package name from [AptRepo.Add]
// installs: /usr/share/imagebuild-test/NAME.
func AptPackageFile(name string) string {
	return "/usr/share/imagebuild-test/" + name
}

// Addr is the repository's host:port on 127.0.0.1.
func (r *AptRepo) Addr() string { return r.addr }

// SourcesLine is the line of /etc/apt/sources.list that makes apt read the
// repository: deb [trusted=yes] http://127.0.0.1:PORT/ ./
func (r *AptRepo) SourcesLine() string {
	return "deb [trusted=yes] http://" + r.addr + "/ ./"
}

// Add builds the package name at version for arch (Debian's name of the
// platform's architecture, amd64 or arm64, or all), installing content at
// [AptPackageFile] of name, serves it from now on, and returns the .deb's
// sha256 in hex, as Packages and apt-cache show give it. Adding a package
// the repository already serves (same name, version and architecture)
// fails the test: [AptRepo.Remove] it first.
func (r *AptRepo) Add(name, version, arch string, content []byte) string {
	r.t.Helper()
	file := "pool/" + name + "_" + version + "_" + arch + ".deb"
	r.mu.Lock()
	_, dup := r.debs[file]
	r.mu.Unlock()
	if dup {
		r.t.Fatalf("apt repository: %s %s for %s is already served; remove it before adding it again", name, version, arch)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: imagebuild tests <tests@imagebuild.invalid>\nDescription: imagebuild test package %s\n",
		name, version, arch, name)
	data := buildDeb(r.t, control, strings.TrimPrefix(AptPackageFile(name), "/"), content)
	sum := sha256.Sum256(data)
	p := debPackage{name: name, version: version, control: control, data: data, sha256: hex.EncodeToString(sum[:])}
	r.mu.Lock()
	r.debs[file] = p
	r.mu.Unlock()
	return p.sha256
}

// Remove stops serving every architecture's package name at version. A
// package the repository does not serve fails the test.
func (r *AptRepo) Remove(name, version string) {
	r.t.Helper()
	r.mu.Lock()
	n := len(r.debs)
	maps.DeleteFunc(r.debs, func(_ string, p debPackage) bool { return p.name == name && p.version == version })
	removed := n - len(r.debs)
	r.mu.Unlock()
	if removed == 0 {
		r.t.Fatalf("apt repository: no package %s %s to remove", name, version)
	}
}

// serve answers apt: Packages, and the .deb files it lists; 404 for the
// rest (InRelease, Release, compressed indexes). apt asks for paths such
// as /./Packages, which are cleaned here rather than redirected.
func (r *AptRepo) serve(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(path.Clean("/"+req.URL.Path), "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	if p == "Packages" {
		w.Write(r.packages())
		return
	}
	if d, ok := r.debs[p]; ok {
		w.Write(d.data)
		return
	}
	http.NotFound(w, req)
}

// packages is the Packages index of the packages served: each one's
// control file with its Filename, Size and SHA256, in file name order.
// The caller holds r.mu.
func (r *AptRepo) packages() []byte {
	var b bytes.Buffer
	for _, file := range slices.Sorted(maps.Keys(r.debs)) {
		d := r.debs[file]
		fmt.Fprintf(&b, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", d.control, file, len(d.data), d.sha256)
	}
	return b.Bytes()
}

// buildDeb builds a .deb with dpkg-deb from control and one file, at
// path file (no leading slash) with content, owned by root. Its dates are
// fixed (SOURCE_DATE_EPOCH), so the same arguments make the same bytes.
func buildDeb(t testing.TB, control, file string, content []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{filepath.Join(root, "DEBIAN"), filepath.Dir(filepath.Join(root, file))} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string][]byte{filepath.Join(root, "DEBIAN", "control"): []byte(control), filepath.Join(root, file): content} {
		if err := os.WriteFile(name, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The umask must not decide the modes the package installs.
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "package.deb")
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, out)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// AptBase returns the test base with repo as its only apt source: [Env.Base]
// with one layer added to each platform's image that writes
// /etc/apt/sources.list as repo's [AptRepo.SourcesLine] alone and empties
// /etc/apt/sources.list.d, pushed to the test registry and pinned by the
// digest of its index (of its image, where Base is one image). Build
// steps reach the repository on 127.0.0.1 because the daemon runs them
// with the host's network.
func (e *Env) AptBase(t testing.TB, repo *AptRepo) ref.Pin {
	t.Helper()
	name := e.Registry + "/imagebuild-test/debian-apt:bookworm"
	src, err := ref.Parse(e.Base.String())
	if err != nil {
		t.Fatal(err)
	}
	dst, err := ref.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	layer := Layer(t,
		Entry{Path: "etc/apt/sources.list", Body: []byte(repo.SourcesLine() + "\n")},
		Entry{Path: "etc/apt/sources.list.d", Dir: true},
		// An opaque whiteout hides whatever the base holds in the folder.
		Entry{Path: "etc/apt/sources.list.d/.wh..wh..opq"},
	)
	withSources := func(img v1.Image) v1.Image {
		mt, err := img.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		lmt := types.DockerLayer
		if mt == types.OCIManifestSchema1 {
			lmt = types.OCILayer
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: lmt,
			History: v1.History{CreatedBy: "imagebuild test: apt sources " + repo.SourcesLine()}})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	desc, err := remote.Get(src)
	if err != nil {
		t.Fatalf("pull %s: %v", e.Base, err)
	}
	var dgst v1.Hash
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		out := mutate.IndexMediaType(empty.Index, desc.MediaType)
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() || m.Platform == nil || m.Platform.OS == "unknown" {
				continue // attestations would name the old manifests
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: withSources(img),
				Descriptor: v1.Descriptor{MediaType: m.MediaType, Platform: m.Platform}})
		}
		if err := remote.WriteIndex(dst, out); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
		if dgst, err = out.Digest(); err != nil {
			t.Fatal(err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		img = withSources(img)
		if err := remote.Write(dst, img); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
		if dgst, err = img.Digest(); err != nil {
			t.Fatal(err)
		}
	}
	pin, err := ref.ParsePin(name + "@" + dgst.String())
	if err != nil {
		t.Fatal(err)
	}
	return pin
}
