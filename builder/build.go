package builder

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrPlatform is returned (wrapped) for a platform that cannot be built:
// not Linux, named twice, not run by the daemon, or not in the base.
var ErrPlatform = errors.New("platform")

// ErrCheck is returned (wrapped) when a check of the build (verify, the
// reproducibility check) fails; nothing was written or pushed.
var ErrCheck = errors.New("check failed")

// Result is what [Build] made.
type Result struct {
	// ExporterResponse is what the daemon's exporters returned when the
	// outputs were written: containerimage.digest (the image's, or with
	// several platforms or attestations the index's) and so on.
	ExporterResponse map[string]string
	// Manifests are each platform's image manifest digest, by platform ID
	// (linux/amd64): of the image that was checked, and of every image or
	// tarball written, which [Build] reads back to make sure.
	Manifests map[string]digest.Digest
	// Comparisons are, with [Options.CheckReproducible], each platform's
	// comparison of the two builds, in the order of the images.
	Comparisons []*compare.Result
	// Signatures are, with [Options.Signer], the tags the signatures of
	// what was pushed were stored under (NAME:sha256-<hex>.sig).
	Signatures []string

	// Warnings are what the build's steps said of the build, each once
	// (see [WarningPrefix]), when its progress was followed.
	Warnings []string

	// engineImage is the ID of the image the build exported, unnamed, into
	// the Docker Engine it ran on, for [Result.tag] to name.
	engineImage string
}

// Build builds imgs, one image a platform, into one image (an index of
// them when there are several), checks it and writes it to opt's outputs.
// The image is dated opt.SourceDateEpoch or, without one, by the build
// context's git HEAD commit (else the Unix epoch), and labelled with that
// work tree's revision and source URL (see [LabelRevision]), so every caller
// gets the same image for the same inputs.
//
// It builds once. When opt asks for checks, that build goes to a
// temporary OCI tarball and the checks run on it: opt.Verify on each
// platform's image, and with opt.CheckReproducible a second build ignoring
// every cache, compared platform by platform. Only when they pass are the
// outputs exported, from the daemon's cache of that same build, and each
// image and tarball written is read back: its platform manifests must be
// the ones checked (attestations such as provenance, which carry their own
// times, may differ), else Build fails; a tarball is then not written.
// Without outputs the build is only checked.
//
// Progress goes to status when it is not nil; Build closes it. On a failed
// reproducibility check Build returns the Result, with its Comparisons,
// and an error wrapping [ErrCheck].
func Build(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, status chan *client.SolveStatus) (*Result, error) {
	if len(imgs) == 0 {
		if status != nil {
			close(status)
		}
		return nil, &PlanError{Field: "Images", Err: fmt.Errorf("%w: no image to build", ErrPlatform)}
	}
	var ps []ocispecs.Platform
	for _, img := range imgs {
		ps = append(ps, img.Platform)
	}
	p, err := NewPlan(ctx, func(pl ocispecs.Platform) (graph.Image, error) {
		i := slices.IndexFunc(imgs, func(img graph.Image) bool { return PlatformID(img.Platform) == PlatformID(pl) })
		return imgs[i], nil
	}, ps, opt)
	if err != nil {
		if status != nil {
			close(status)
		}
		return nil, err
	}
	return p.Build(ctx, c, status)
}

// build is [Build] on one daemon, of images it has checked.
func build(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, prog *progress) (*Result, error) {
	res := &Result{}
	if opt.Verify != nil || opt.CheckReproducible {
		if err := check(ctx, c, imgs, opt, prog, res); err != nil {
			return res, err
		}
		if len(opt.Outputs) == 0 {
			return res, res.commit(&staged{}, opt)
		}
		// The outputs are exported from the daemon's cache of the build
		// just checked: with NoCache they would be a build of their own.
		opt.NoCache = false
	}
	resp, st, err := solve(ctx, c, imgs, opt, opt.Outputs, prog.next())
	if err != nil {
		return nil, err
	}
	defer st.discard()
	res.ExporterResponse = resp.ExporterResponse
	// What was written, pushed by digest or is to be loaded is read back
	// before anything is named, loaded or moved into place.
	if err := res.readBack(ctx, imgs, opt, st); err != nil {
		return nil, err
	}
	if err := st.load(ctx, opt.Engine); err != nil {
		return nil, err
	}
	for _, o := range opt.Outputs {
		if o.Type == OutputLoad && !st.onEngine {
			for _, name := range strings.Split(o.Attrs["name"], ",") {
				if _, err := res.readBackLoad(ctx, opt.Engine, name); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := res.commit(st, opt); err != nil {
		return nil, err
	}
	return res, nil
}

// commit stages the metadata file, when opt asks for one, beside the
// outputs st holds, and moves them all into place; on an error it leaves
// none of them.
func (res *Result) commit(st *staged, opt Options) error {
	defer st.discard()
	if opt.MetadataFile != "" {
		dt, err := res.Metadata()
		if err != nil {
			return err
		}
		if err := st.file(opt.MetadataFile, dt); err != nil {
			return fmt.Errorf("metadata file: %w", err)
		}
	}
	return st.commit()
}

// MetadataManifests is the metadata file's key for each platform's image
// manifest digest, by platform ID.
const MetadataManifests = "imagebuild.manifests"

// Metadata is the build's metadata as [Options.MetadataFile] holds it:
// the exporters' response as buildctl's --metadata-file writes it (values
// that are base64-encoded JSON written as that JSON), and each platform's
// manifest digest under [MetadataManifests].
func (res *Result) Metadata() ([]byte, error) {
	out := map[string]any{}
	if len(res.Manifests) > 0 {
		out[MetadataManifests] = res.Manifests
	}
	for k, v := range res.ExporterResponse {
		if dt, err := base64.StdEncoding.DecodeString(v); err == nil {
			var raw json.RawMessage
			if json.Unmarshal(dt, &raw) == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = v
	}
	dt, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return append(dt, '\n'), nil
}

// check builds imgs into a temporary OCI tarball and runs opt's checks on
// it, recording the manifests checked in res.
func check(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, prog *progress, res *Result) error {
	dir, err := os.MkdirTemp("", "imagebuild-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The cache is exported once: by the build that writes the outputs,
	// or where there are none, by this one.
	first := opt
	if len(opt.Outputs) > 0 {
		first.CacheExports = nil
	}
	built, err := buildTarball(ctx, c, imgs, first, filepath.Join(dir, "build"), prog)
	if err != nil {
		return err
	}
	if res.Manifests, err = platformManifests(built, imgs); err != nil {
		return err
	}
	if opt.Verify != nil {
		for _, img := range imgs {
			im, err := oci.Image(built, img.Platform)
			if err != nil {
				return err
			}
			var doc []byte
			if opt.SBOM {
				st, _, err := sbomStatement(built, im)
				if err != nil {
					return err
				}
				doc = st.Predicate
			}
			if err := opt.Verify(ctx, img.Platform, im, doc); err != nil {
				return fmt.Errorf("%w: verify %s: %w; nothing was written or pushed", ErrCheck, platforms.Format(img.Platform), err)
			}
		}
	}
	if !opt.CheckReproducible {
		return nil
	}
	again := opt
	again.NoCache = true
	again.CacheImports, again.CacheExports = nil, nil
	rebuilt, err := buildTarball(ctx, c, imgs, again, filepath.Join(dir, "rebuild"), prog)
	if err != nil {
		return fmt.Errorf("second build: %w", err)
	}
	var differ []string
	for _, img := range imgs {
		var pair [2]v1.Image
		for i, idx := range []v1.ImageIndex{built, rebuilt} {
			if pair[i], err = oci.Image(idx, img.Platform); err != nil {
				return err
			}
		}
		cmp, err := compare.Images(pair[0], pair[1])
		if err != nil {
			return fmt.Errorf("compare %s: %w", platforms.Format(img.Platform), err)
		}
		cmp.Platform = PlatformID(img.Platform)
		res.Comparisons = append(res.Comparisons, cmp)
		if !cmp.Same() {
			differ = append(differ, fmt.Sprintf("%s (%s and %s)", cmp.Platform, cmp.Digests[0], cmp.Digests[1]))
			continue
		}
		if opt.SBOM {
			// The same image, so the same subject: the statements differ
			// only where the documents do.
			var sboms [2]v1.Hash
			for i, idx := range []v1.ImageIndex{built, rebuilt} {
				if _, sboms[i], err = sbomStatement(idx, pair[i]); err != nil {
					return fmt.Errorf("%s: %w", cmp.Platform, err)
				}
			}
			if sboms[0] != sboms[1] {
				differ = append(differ, fmt.Sprintf("%s's SBOM (%s and %s)", cmp.Platform, sboms[0], sboms[1]))
			}
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("%w: not reproducible: two builds differ for %s; nothing was written or pushed", ErrCheck, strings.Join(differ, ", "))
	}
	return nil
}

// sbomStatement returns the SBOM statement idx attaches to img, and the
// digest of the layer holding it; an error when there is none.
func sbomStatement(idx v1.ImageIndex, img v1.Image) (*oci.Statement, v1.Hash, error) {
	st, h, err := oci.SBOM(idx, img)
	if err != nil || st == nil {
		d, _ := img.Digest()
		if err != nil {
			return nil, h, fmt.Errorf("read the SBOM of %s: %w", d, err)
		}
		return nil, h, fmt.Errorf("no SBOM attached to %s", d)
	}
	return st, h, nil
}

// buildTarball builds imgs into an OCI tarball, unpacks it into the
// directory dir and returns its index.
func buildTarball(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, dir string, prog *progress) (v1.ImageIndex, error) {
	tarball := dir + ".oci.tar"
	_, st, err := solve(ctx, c, imgs, opt, []Output{{Type: client.ExporterOCI, Dest: tarball}}, prog.next())
	if err != nil {
		return nil, err
	}
	defer st.discard()
	if err := st.commit(); err != nil {
		return nil, err
	}
	idx, err := oci.OpenTarball(tarball, dir)
	os.Remove(tarball)
	return idx, err
}

// readBack reads each written image and tarball's platform manifests and
// compares them with those checked, or where nothing was checked, with
// each other; res.Manifests are the first read where nothing was checked.
func (res *Result) readBack(ctx context.Context, imgs []graph.Image, opt Options, st *staged) error {
	for _, o := range opt.Outputs {
		var idxs []v1.ImageIndex
		var names []string
		switch o.Type {
		case client.ExporterOCI, client.ExporterDocker:
			var idx v1.ImageIndex
			var err error
			if o.Attrs["tar"] == "false" {
				idx, err = oci.OpenLayout(st.path(o))
			} else {
				dir, terr := os.MkdirTemp("", "imagebuild-readback-")
				if terr != nil {
					return terr
				}
				defer os.RemoveAll(dir)
				idx, err = oci.OpenManifests(st.path(o), dir)
			}
			if err != nil {
				return fmt.Errorf("output %s: read back: %w", o.Dest, err)
			}
			idxs, names = append(idxs, idx), append(names, o.Dest)
		case OutputLoad:
			if st.onEngine {
				// Exported unnamed into the engine's store: named by
				// [Result.tag] once it is the image checked.
				id, err := res.readBackEngine(ctx, opt.Engine)
				if err != nil {
					return err
				}
				res.engineImage = id
				continue
			}
			// The docker tarball, before the engine loads it and takes
			// its names.
			dir, err := os.MkdirTemp("", "imagebuild-readback-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			idx, err := oci.OpenManifests(st.loads[o.Attrs["name"]], dir)
			if err != nil {
				return fmt.Errorf("load %s: read back: %w", o.Attrs["name"], err)
			}
			idxs, names = append(idxs, idx), append(names, o.Attrs["name"])
		case client.ExporterImage:
			if o.Attrs["push"] != "true" {
				continue // in the daemon's store only
			}
			d := res.ExporterResponse[exptypes.ExporterImageDigestKey]
			for _, name := range strings.Split(o.Attrs["name"], ",") {
				idx, err := pushedIndex(ctx, name, d, o.Attrs["registry.insecure"] == "true", opt.Keychain)
				if err != nil {
					return fmt.Errorf("read back %s: %w", name, err)
				}
				idxs, names = append(idxs, idx), append(names, name)
			}
		}
		for i, idx := range idxs {
			got, err := platformManifests(idx, imgs)
			if err != nil {
				return fmt.Errorf("read back %s: %w", names[i], err)
			}
			if res.Manifests == nil {
				res.Manifests = got
				continue
			}
			for id, want := range res.Manifests {
				if got[id] != want {
					return fmt.Errorf("%s: the %s image written is %s, not %s, the one checked", names[i], id, got[id], want)
				}
			}
		}
	}
	return nil
}

// exportedIDs are the IDs an engine may give the image the build exported:
// the digest of its manifest or index (containerd's image store), or of its
// config (a graph driver store).
func (res *Result) exportedIDs() []string {
	var ids []string
	for _, k := range []string{exptypes.ExporterImageDigestKey, exptypes.ExporterImageConfigDigestKey} {
		if d := res.ExporterResponse[k]; d != "" {
			ids = append(ids, d)
		}
	}
	return ids
}

// readBackLoad inspects the image the engine holds under ref (a name, or
// an image's ID): where the engine lists its platform manifests, each must
// be the one checked; else (an engine before API 1.48) its ID must be one
// of [Result.exportedIDs]. It returns the image's ID.
func (res *Result) readBackLoad(ctx context.Context, engine *daemon.Engine, ref string) (string, error) {
	got, err := engine.Image(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", ref, err)
	}
	if len(got.Manifests) > 0 {
		for id, want := range res.Manifests {
			if got.Manifests[id] != want.String() {
				return "", fmt.Errorf("%s: the engine holds %s as its %s image, not %s, the one checked", ref, got.Manifests[id], id, want)
			}
		}
		return got.ID, nil
	}
	if ids := res.exportedIDs(); !slices.Contains(ids, got.ID) {
		return "", fmt.Errorf("%s: the engine holds image %s, not the one built (%s)", ref, got.ID, strings.Join(ids, " or "))
	}
	return got.ID, nil
}

// readBackEngine reads back the image the build exported, unnamed, into
// the engine it ran on, by the first of [Result.exportedIDs] the engine
// knows, and returns its ID.
func (res *Result) readBackEngine(ctx context.Context, engine *daemon.Engine) (string, error) {
	ids := res.exportedIDs()
	if len(ids) == 0 {
		return "", errors.New("load: the engine's export gave no image digest")
	}
	var err error
	for _, id := range ids {
		var got string
		if got, err = res.readBackLoad(ctx, engine, id); err == nil {
			return got, nil
		}
	}
	return "", err
}

// platformManifests returns the manifest digest of each of imgs' platforms
// in idx, by platform ID.
func platformManifests(idx v1.ImageIndex, imgs []graph.Image) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	for _, img := range imgs {
		im, err := oci.Image(idx, img.Platform)
		if err != nil {
			return nil, err
		}
		d, err := im.Digest()
		if err != nil {
			return nil, err
		}
		out[PlatformID(img.Platform)] = digest.Digest(d.String())
	}
	return out, nil
}

// validateImages reports whether imgs, one a platform, can be built as one
// image: one context, each base and config valid.
func validateImages(imgs []graph.Image) error {
	for _, img := range imgs {
		if img.Context.Dir() != imgs[0].Context.Dir() {
			return fmt.Errorf("build contexts %s and %s: the images of one build read one context", imgs[0].Context.Dir(), img.Context.Dir())
		}
		if err := img.Base.Validate(); err != nil {
			return fmt.Errorf("base: %w", err)
		}
		if err := img.Config.Validate(); err != nil {
			return fmt.Errorf("image config: %w", err)
		}
	}
	return nil
}

// platformError is why a platform cannot be built; it is an [ErrPlatform].
type platformError string

func (e platformError) Error() string        { return string(e) }
func (e platformError) Is(target error) bool { return target == ErrPlatform }

// validPlatform reports whether p is a platform the recipes build for:
// Linux only. (An image for another OS would hold Linux files, and a
// BuildKit daemon that unpacks a Linux base for Windows keeps doing so.)
func validPlatform(p ocispecs.Platform) error {
	if p.OS != "linux" {
		return platformError("only linux platforms can be built (linux/amd64, linux/arm64, ...)")
	}
	if p.Architecture == "" {
		return platformError("no architecture; want linux/ARCH such as linux/arm64")
	}
	return nil
}

// validateOutput reports whether o can take an image of n platforms.
func validateOutput(o Output, n int) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Type == client.ExporterDocker && n > 1 {
		return fmt.Errorf("%w: a docker tarball holds one platform's image, not an index of %d; use type=oci or type=image for several platforms", ErrInvalidOutput, n)
	}
	return nil
}

// checkWorkers fails when a daemon has no worker that runs the platform of
// an image it is to build, natively or under emulation: builders' for
// their platforms, c's for the rest.
func checkWorkers(ctx context.Context, c *client.Client, imgs []graph.Image, builders map[string]*client.Client) error {
	have := map[*client.Client]platforms.MatchComparer{}
	names := map[*client.Client][]string{}
	for _, img := range imgs {
		on := c
		if b, ok := builders[PlatformID(img.Platform)]; ok {
			on = b
		}
		if _, ok := have[on]; !ok {
			workers, err := on.ListWorkers(ctx)
			if err != nil {
				return fmt.Errorf("list the daemon's workers: %w", err)
			}
			var ps []ocispecs.Platform
			for _, w := range workers {
				ps = append(ps, w.Platforms...)
			}
			for _, p := range ps {
				names[on] = append(names[on], platforms.Format(p))
			}
			have[on] = platforms.Any(ps...)
		}
		if !have[on].Match(platforms.Normalize(img.Platform)) {
			return fmt.Errorf("%w: the daemon cannot run %s steps (it runs %s): register QEMU emulation before it starts (as root; it needs Debian's qemu-user-static and binfmt-support), or build on a %s builder",
				ErrPlatform, platforms.Format(img.Platform), strings.Join(names[on], ", "), platforms.Format(img.Platform))
		}
	}
	return nil
}

// DefaultPlatform is the daemon's own platform, the first its first worker
// lists, as buildx picks it: a build without a platform runs natively.
func DefaultPlatform(ctx context.Context, c *client.Client) (ocispecs.Platform, error) {
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return ocispecs.Platform{}, fmt.Errorf("list the daemon's workers: %w", err)
	}
	for _, w := range workers {
		if len(w.Platforms) > 0 {
			return platforms.Normalize(w.Platforms[0]), nil
		}
	}
	return ocispecs.Platform{}, errors.New("the daemon lists no platform")
}

// WarningPrefix starts a line of a step's output that is a warning about
// the build rather than output: the build takes such lines out of the
// steps' output and reports each distinct one once, at the end of the
// progress, as a warning of the first step that said it, and in
// [Result.Warnings]. A recipe's steps say so what holds for many of them
// (the pip steps: that an sdist's build requirements float).
const WarningPrefix = "imagebuild: warning: "

// progress forwards the status of several solves to one channel, which it
// closes at the end, with the warnings the steps said (see
// [WarningPrefix]).
type progress struct {
	out chan *client.SolveStatus
	wg  sync.WaitGroup

	mu       sync.Mutex
	warnings []*client.VertexWarning
}

// next returns the channel for the next solve, which the solve closes.
func (p *progress) next() chan *client.SolveStatus {
	if p.out == nil {
		return nil
	}
	ch := make(chan *client.SolveStatus)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for s := range ch {
			s.Logs = p.takeWarnings(s.Logs)
			p.out <- s
		}
	}()
	return ch
}

// takeWarnings takes the lines that start with WarningPrefix out of logs,
// keeping the first step's to say each.
func (p *progress) takeWarnings(logs []*client.VertexLog) []*client.VertexLog {
	out := logs[:0]
	for _, l := range logs {
		if !bytes.Contains(l.Data, []byte(WarningPrefix)) {
			out = append(out, l)
			continue
		}
		var kept []byte
		for line := range bytes.Lines(l.Data) {
			text, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(WarningPrefix))
			if !ok {
				kept = append(kept, line...)
				continue
			}
			p.warn(l.Vertex, string(text))
		}
		if len(kept) > 0 {
			c := *l
			c.Data = kept
			out = append(out, &c)
		}
	}
	return out
}

func (p *progress) warn(v digest.Digest, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.warnings {
		if string(w.Short) == text {
			return
		}
	}
	p.warnings = append(p.warnings, &client.VertexWarning{Vertex: v, Level: 1, Short: []byte(text)})
}

// said returns the warnings the steps said, each once.
func (p *progress) said() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, w := range p.warnings {
		out = append(out, string(w.Short))
	}
	return out
}

func (p *progress) close() {
	if p.out != nil {
		p.wg.Wait()
		if len(p.warnings) > 0 {
			p.out <- &client.SolveStatus{Warnings: p.warnings}
		}
		close(p.out)
	}
}
