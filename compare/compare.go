package compare

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/oci"
)

// Result is what differs between two builds of one image.
type Result struct {
	// Platform is the platform ID of the image compared (linux/amd64).
	Platform string
	// Digests are the two images' manifest digests.
	Digests [2]string
	// Config lists the top-level config fields that differ.
	Config []string
	// Layers are the layers that differ, by index.
	Layers []Layer
}

// Layer is one layer that differs between two builds.
type Layer struct {
	Index   int
	DiffIDs [2]string
	Files   []File
}

// File is one way a path differs between two layers.
type File struct {
	Path string
	// Kind is content, mtime, mode, owner, type, added or removed.
	Kind string
	// A and B describe the path in the first and second build.
	A, B string
}

// Same reports whether the two builds gave one image.
func (c *Result) Same() bool { return c.Digests[0] == c.Digests[1] }

// WriteText writes the comparison for people: the digests, then what differs.
func (c *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	if c.Platform != "" {
		fmt.Fprintf(&b, "%s: ", c.Platform)
	}
	if c.Same() {
		fmt.Fprintf(&b, "reproducible: both builds gave %s\n", c.Digests[0])
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "not reproducible: first build %s, second build %s\n", c.Digests[0], c.Digests[1])
	if len(c.Config) > 0 {
		fmt.Fprintf(&b, "config differs in: %s\n", strings.Join(c.Config, ", "))
	}
	for _, l := range c.Layers {
		fmt.Fprintf(&b, "layer %d differs: %s != %s\n", l.Index, l.DiffIDs[0], l.DiffIDs[1])
		for _, f := range l.Files {
			fmt.Fprintf(&b, "  %-8s /%s: %s -> %s\n", f.Kind, f.Path, f.A, f.B)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Tarballs compares the single images of two OCI tarballs, as the oci
// exporter writes them (see [oci.OpenImage]).
func Tarballs(a, b string) (*Result, error) {
	var imgs [2]v1.Image
	for i, path := range []string{a, b} {
		dir, err := os.MkdirTemp("", "imagebuild-compare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if imgs[i], err = oci.OpenImage(path, dir); err != nil {
			return nil, err
		}
	}
	return Images(imgs[0], imgs[1])
}

// Images compares two images: layer by layer and, within a layer that
// differs, file by file.
func Images(a, b v1.Image) (*Result, error) {
	var c Result
	imgs := [2]v1.Image{a, b}
	var layers [2][]v1.Layer
	var configs [2]map[string]any
	for i, img := range imgs {
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		c.Digests[i] = d.String()
		if layers[i], err = img.Layers(); err != nil {
			return nil, err
		}
		raw, err := img.RawConfigFile()
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &configs[i]); err != nil {
			return nil, fmt.Errorf("parse image config: %w", err)
		}
	}
	if c.Same() {
		return &c, nil
	}
	for _, k := range slices.Sorted(maps.Keys(unionKeys(configs[0], configs[1]))) {
		if !reflect.DeepEqual(configs[0][k], configs[1][k]) {
			c.Config = append(c.Config, k)
		}
	}
	for i := range max(len(layers[0]), len(layers[1])) {
		var ld Layer
		ld.Index = i
		var entries [2]map[string]entry
		for j := range 2 {
			if i >= len(layers[j]) {
				ld.DiffIDs[j] = "(none)"
				continue
			}
			id, err := layers[j][i].DiffID()
			if err != nil {
				return nil, err
			}
			ld.DiffIDs[j] = id.String()
		}
		if ld.DiffIDs[0] == ld.DiffIDs[1] {
			continue
		}
		for j := range 2 {
			if i >= len(layers[j]) {
				entries[j] = map[string]entry{}
				continue
			}
			var err error
			if entries[j], err = layerEntries(layers[j][i]); err != nil {
				return nil, fmt.Errorf("read layer %d: %w", i, err)
			}
		}
		ld.Files = diffEntries(entries[0], entries[1])
		c.Layers = append(c.Layers, ld)
	}
	return &c, nil
}

func unionKeys(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// entry is what is compared of one path in a layer.
type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	mtime    time.Time
	size     int64
	sum      string
	link     string
}

func layerEntries(l v1.Layer) (map[string]entry, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		e := entry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, size: h.Size, link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				return nil, err
			}
			e.sum = hex.EncodeToString(sum.Sum(nil))
		}
		out[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = e
	}
}

func diffEntries(a, b map[string]entry) []File {
	var out []File
	for _, p := range slices.Sorted(maps.Keys(a)) {
		ea := a[p]
		eb, ok := b[p]
		if !ok {
			out = append(out, File{Path: p, Kind: "removed", A: describe(ea), B: "absent"})
			continue
		}
		switch {
		case ea.typ != eb.typ:
			out = append(out, File{Path: p, Kind: "type", A: describe(ea), B: describe(eb)})
			continue
		case ea.sum != eb.sum || ea.size != eb.size || ea.link != eb.link:
			out = append(out, File{Path: p, Kind: "content",
				A: fmt.Sprintf("%d bytes sha256:%.12s", ea.size, ea.sum), B: fmt.Sprintf("%d bytes sha256:%.12s", eb.size, eb.sum)})
		}
		if !ea.mtime.Equal(eb.mtime) {
			out = append(out, File{Path: p, Kind: "mtime", A: ea.mtime.UTC().Format(time.RFC3339Nano), B: eb.mtime.UTC().Format(time.RFC3339Nano)})
		}
		if ea.mode != eb.mode {
			out = append(out, File{Path: p, Kind: "mode", A: fmt.Sprintf("%04o", ea.mode), B: fmt.Sprintf("%04o", eb.mode)})
		}
		if ea.uid != eb.uid || ea.gid != eb.gid {
			out = append(out, File{Path: p, Kind: "owner", A: fmt.Sprintf("%d:%d", ea.uid, ea.gid), B: fmt.Sprintf("%d:%d", eb.uid, eb.gid)})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[p]; !ok {
			out = append(out, File{Path: p, Kind: "added", A: "absent", B: describe(b[p])})
		}
	}
	return out
}

func describe(e entry) string {
	switch e.typ {
	case tar.TypeDir:
		return fmt.Sprintf("directory %04o %d:%d", e.mode, e.uid, e.gid)
	case tar.TypeSymlink:
		return "symlink to " + e.link
	case tar.TypeReg:
		return fmt.Sprintf("file %d bytes %04o %d:%d", e.size, e.mode, e.uid, e.gid)
	default:
		return fmt.Sprintf("tar type %q", e.typ)
	}
}
