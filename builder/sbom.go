package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/sbom"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// SBOMPredicateType is the in-toto predicate type of the SBOM attestation:
// an SPDX document, as BuildKit's own SBOM attestations are typed.
const SBOMPredicateType = oci.PredicateSPDX

// sbomPath is where the SBOM's state holds the document.
const sbomPath = "/sbom.spdx.json"

// sbomAttestation catalogues ref, img's filesystem as built, and returns
// the SPDX document of it as an in-toto attestation, attached from a ref of
// its own (a scratch state holding the document), as a client-side build
// attaches attestations. The document is dated by the build's epoch, so the
// same image gives the same bytes.
func sbomAttestation(ctx context.Context, gw gateway.Client, img graph.Image, ref gateway.Reference, opt Options) (gateway.Attestation, error) {
	var none gateway.Attestation
	fsys := refFS{ctx: ctx, ref: ref}
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		return none, fmt.Errorf("SBOM of %s: %w", platforms.Format(img.Platform), err)
	}
	created := time.Unix(0, 0).UTC()
	if opt.SourceDateEpoch != nil {
		created = opt.SourceDateEpoch.UTC()
	}
	doc, err := sbom.SPDX(fsys, inv, sbom.Subject{
		Name:     sbomName(img),
		Platform: PlatformID(img.Platform),
		Base:     img.Base.String(),
		Created:  created,
	})
	if err != nil {
		return none, fmt.Errorf("SBOM of %s: %w", platforms.Format(img.Platform), err)
	}
	st := llb.Scratch().File(llb.Mkfile(sbomPath, 0o644, doc, llb.WithCreatedTime(created)),
		llb.WithCustomName(fmt.Sprintf("SBOM of the %s image (SPDX 2.3, %d packages)", PlatformID(img.Platform), len(inv.Packages))))
	def, err := st.Marshal(ctx, llb.Platform(img.Platform))
	if err != nil {
		return none, err
	}
	res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return none, err
	}
	sref, err := res.SingleRef()
	if err != nil {
		return none, err
	}
	return gateway.Attestation{
		Kind: gatewaypb.AttestationKind_InToto,
		Ref:  sref,
		Path: sbomPath,
		InToto: result.InTotoAttestation{
			PredicateType: SBOMPredicateType,
		},
	}, nil
}

// sbomName is what the SBOM calls the image: its title label, else
// "image".
func sbomName(img graph.Image) string {
	if t := img.Config.Labels["org.opencontainers.image.title"]; t != "" {
		return t
	}
	return "image"
}

// refFS is the filesystem of a build's result as the daemon serves it to
// a client-side build: read-only, file by file.
type refFS struct {
	ctx context.Context
	ref gateway.Reference
}

var (
	_ fs.ReadFileFS = refFS{}
	_ fs.ReadDirFS  = refFS{}
	_ fs.StatFS     = refFS{}
)

func (f refFS) abs(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join("/", name), nil
}

// notExist turns the daemon's answer for a missing path into fs.ErrNotExist.
func notExist(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: errors.Join(fs.ErrNotExist, err)}
}

func (f refFS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.abs("stat", name)
	if err != nil {
		return nil, err
	}
	st, err := f.ref.StatFile(f.ctx, gateway.StatRequest{Path: p})
	if err != nil {
		return nil, notExist("stat", name, err)
	}
	return statInfo{st: st, name: path.Base(p)}, nil
}

func (f refFS) ReadFile(name string) ([]byte, error) {
	p, err := f.abs("read", name)
	if err != nil {
		return nil, err
	}
	dt, err := readAll(f.ctx, f.ref, p)
	if err != nil {
		return nil, notExist("read", name, err)
	}
	return dt, nil
}

func (f refFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.abs("readdir", name)
	if err != nil {
		return nil, err
	}
	sts, err := f.ref.ReadDir(f.ctx, gateway.ReadDirRequest{Path: p})
	if err != nil {
		return nil, notExist("readdir", name, err)
	}
	out := make([]fs.DirEntry, 0, len(sts))
	for _, st := range sts {
		out = append(out, fs.FileInfoToDirEntry(statInfo{st: st, name: path.Base(st.Path)}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (f refFS) Open(name string) (fs.File, error) {
	info, err := f.Stat(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		entries, err := f.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &refDir{info: info, entries: entries}, nil
	}
	dt, err := f.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &refFile{info: info, Reader: bytes.NewReader(dt)}, nil
}

// statInfo is a daemon's stat of a path as an fs.FileInfo.
type statInfo struct {
	st   *fstypes.Stat
	name string
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) Mode() fs.FileMode  { return fs.FileMode(s.st.Mode) }
func (s statInfo) ModTime() time.Time { return time.Unix(0, s.st.ModTime) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return s.st }

type refFile struct {
	info fs.FileInfo
	*bytes.Reader
}

func (f *refFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *refFile) Close() error               { return nil }

type refDir struct {
	info    fs.FileInfo
	entries []fs.DirEntry
}

func (d *refDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *refDir) Close() error               { return nil }
func (d *refDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *refDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}
