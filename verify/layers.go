package verify

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// distributionLayer is the prefix of the history entry a Python recipe
// gives each layer of the venv: "pip: NAME VERSION" (or several, "pip: a
// 1.0, b 2.0", where distributions share a layer).
const distributionLayer = "pip: "

// checkVenvLayers names each layer of the venv by the distributions its
// history entry gives, and checks per layer what the whole venv must hold:
// every entry is in the venv (or one of the folders above it), and every
// entry in it belongs to the runtime user.
func checkVenvLayers(img v1.Image, cf *v1.ConfigFile, venv string, uid int) Result {
	res := Result{Check: "venv layers: one per distribution, in the venv, owned by the runtime user"}
	if uid <= 0 {
		res.Status, res.Evidence = Skip, []string{"no non-root runtime user to own them"}
		return res
	}
	layers, err := img.Layers()
	if err != nil {
		res.Status, res.Evidence = Fail, []string{fmt.Sprintf("read the image's layers: %v", err)}
		return res
	}
	var names []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			names = append(names, h.CreatedBy)
		}
	}
	if len(names) != len(layers) {
		res.Status, res.Evidence = Skip, []string{fmt.Sprintf("the history names %d layers and the image has %d: layers cannot be told apart by name", len(names), len(layers))}
		return res
	}
	res.Status = Pass
	n := 0
	for i, name := range names {
		if !strings.HasPrefix(name, distributionLayer) {
			continue
		}
		n++
		entries, size, wrong, err := layerEntries(layers[i], venv, uid)
		switch {
		case err != nil:
			res.Status = Fail
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %v", name, err))
		case len(wrong) > 0:
			res.Status = Fail
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %d of %d entries wrong, e.g. %s", name, len(wrong), entries, strings.Join(wrong[:min(3, len(wrong))], "; ")))
		default:
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %d entries, %s, in %s, owned by UID %d", name, entries, humanBytes(size), venv, uid))
		}
	}
	if n == 0 {
		res.Status, res.Evidence = Skip, []string{"no layer is named for a distribution (a venv not built one layer per distribution)"}
	}
	return res
}

// layerEntries reads a layer's entries (metadata only) and returns how
// many there are, their bytes, and those that are outside venv (and not a
// folder above it) or, inside it, not owned by uid.
func layerEntries(l v1.Layer, venv string, uid int) (int, int64, []string, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, 0, nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var wrong []string
	n, size := 0, int64(0)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, size, wrong, nil
		}
		if err != nil {
			return n, size, wrong, err
		}
		n++
		size += h.Size
		p := path.Clean("/" + h.Name)
		switch {
		case p == venv || strings.HasPrefix(p, venv+"/"):
			if h.Uid != uid {
				wrong = append(wrong, fmt.Sprintf("%s owned by %d:%d", p, h.Uid, h.Gid))
			}
		case h.Typeflag == tar.TypeDir && strings.HasPrefix(venv, strings.TrimSuffix(p, "/")+"/"):
			// a folder above the venv, as every layer of it has
		default:
			wrong = append(wrong, p+" is outside "+venv)
		}
	}
}

// humanBytes writes n in kB, MB or GB.
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
