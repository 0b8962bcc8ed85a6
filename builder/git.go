package builder

import (
	"context"
	"maps"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/imagebuild/imagebuild/graph"
)

// Labels an image records about the source it was built from, when its
// build context is in a git work tree.
const (
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
)

// withSource returns opt with a source date epoch, and imgs with the labels
// of their build context's git work tree, as [Build] makes every image:
// opt's epoch when set, else the commit time of HEAD, else the Unix epoch;
// the revision and source labels unless an image sets them itself.
func withSource(ctx context.Context, imgs []graph.Image, opt run) ([]graph.Image, run) {
	dir := imgs[0].Context.Dir()
	if opt.SourceDateEpoch == nil {
		t := time.Unix(0, 0).UTC()
		if out, ok := git(ctx, dir, "log", "-1", "--format=%ct"); ok {
			if n, err := strconv.ParseInt(out, 10, 64); err == nil {
				t = time.Unix(n, 0).UTC()
			}
		}
		opt.SourceDateEpoch = &t
	}
	labels := gitLabels(ctx, dir)
	if len(labels) == 0 {
		return imgs, opt
	}
	out := make([]graph.Image, len(imgs))
	for i, img := range imgs {
		l := maps.Clone(labels)
		maps.Copy(l, img.Config.Labels)
		img.Config.Labels = l
		out[i] = img
	}
	return out, opt
}

// git runs git in dir and returns its trimmed output, or false when dir is
// "", git is missing, dir is not in a work tree, or the command fails.
func git(ctx context.Context, dir string, args ...string) (string, bool) {
	if dir == "" {
		return "", false
	}
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

// gitLabels returns the revision and source labels when dir is in a git
// work tree. The source URL is stripped of any credentials.
func gitLabels(ctx context.Context, dir string) map[string]string {
	labels := map[string]string{}
	if rev, ok := git(ctx, dir, "rev-parse", "HEAD"); ok {
		labels[LabelRevision] = rev
	}
	if src, ok := git(ctx, dir, "remote", "get-url", "origin"); ok {
		if u, err := url.Parse(src); err == nil && u.Scheme != "" {
			u.User = nil
			src = u.String()
		} else if at := strings.Index(src, "@"); at >= 0 && strings.Contains(src[at:], ":") {
			src = src[at+1:] // scp-like user@host:path
		}
		labels[LabelSource] = src
	}
	return labels
}
