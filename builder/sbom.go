package builder

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/reffs"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/sbom"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"
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
func sbomAttestation(ctx context.Context, gw gateway.Client, img graph.Image, ref gateway.Reference, opt run) (gateway.Attestation, error) {
	var none gateway.Attestation
	fsys := reffs.New(ctx, ref)
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
