package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/ociindex"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
)

// ErrInvalid is returned (wrapped) for a cache import or export that
// BuildKit would refuse or, worse, silently read otherwise than written.
var ErrInvalid = errors.New("invalid cache")

// Cache backends of BuildKit's daemon. Inline cache is written into the
// image's own config and read back as a registry import of that image.
var (
	cacheExportTypes = []string{"registry", "local", "inline", "gha", "s3", "azblob"}
	cacheImportTypes = []string{"registry", "local", "gha", "s3", "azblob"}
)

// ValidateExport reports whether e is a cache export BuildKit reads as
// written: a known type with what that type needs, mode min or max (BuildKit
// takes any other mode as min without a word), and ignore-error a boolean.
func ValidateExport(e client.CacheOptionsEntry) error {
	if err := validateCache(e, cacheExportTypes, "dest"); err != nil {
		return err
	}
	switch mode := e.Attrs["mode"]; {
	case mode == "max" && e.Type == "inline":
		return fmt.Errorf("%w: type=inline stores only mode=min (the image's own layers); use type=registry for mode=max", ErrInvalid)
	case mode != "" && mode != "min" && mode != "max":
		return fmt.Errorf("%w: mode=%s; want mode=min or mode=max", ErrInvalid, mode)
	}
	if v, ok := e.Attrs["ignore-error"]; ok {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%w: ignore-error=%s; want true or false", ErrInvalid, v)
		}
	}
	return nil
}

// ValidateImport reports whether e is a cache import BuildKit can use:
// a known type with what that type needs.
func ValidateImport(e client.CacheOptionsEntry) error {
	return validateCache(e, cacheImportTypes, "src")
}

// validateCache checks e's type is one of types, that a registry cache names
// a valid ref and that a local one names its directory in the attribute dir.
func validateCache(e client.CacheOptionsEntry, types []string, dir string) error {
	if !slices.Contains(types, e.Type) {
		if e.Type == "" {
			return fmt.Errorf("%w: no type; want type=%s", ErrInvalid, strings.Join(types, "|"))
		}
		return fmt.Errorf("%w: unknown type %q; want %s", ErrInvalid, e.Type, strings.Join(types, ", "))
	}
	switch e.Type {
	case "registry":
		ref := e.Attrs["ref"]
		if ref == "" {
			return fmt.Errorf("%w: type=registry needs ref=REF", ErrInvalid)
		}
		if _, err := reference.ParseNormalizedNamed(ref); err != nil {
			return fmt.Errorf("%w: ref=%s: %v", ErrInvalid, ref, err)
		}
	case "local":
		if e.Attrs[dir] == "" {
			return fmt.Errorf("%w: type=local needs %s=DIR", ErrInvalid, dir)
		}
	}
	return nil
}

// Exports returns the exports to ask BuildKit for: mode=max where an
// export names no mode (inline cache has only min).
func Exports(exports []client.CacheOptionsEntry) []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, e := range exports {
		e.Attrs = maps.Clone(e.Attrs)
		if e.Attrs == nil {
			e.Attrs = map[string]string{}
		}
		if _, ok := e.Attrs["mode"]; !ok && e.Type != "inline" {
			e.Attrs["mode"] = "max"
		}
		out = append(out, e)
	}
	return out
}

// Imports returns the imports to ask BuildKit for.
func Imports(imports []client.CacheOptionsEntry) []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, e := range imports {
		e.Attrs = maps.Clone(e.Attrs)
		out = append(out, e)
	}
	return out
}

// BuildImports returns the cache imports of a gateway build. BuildKit
// applies imports only to the solve requests that carry them, so a build
// function passes these in each one, as BuildKit's Dockerfile frontend does.
// The client has already resolved local imports to a digest here.
func BuildImports(gw gateway.Client) ([]gateway.CacheOptionsEntry, error) {
	s := gw.BuildOpts().Opts["cache-imports"]
	if s == "" {
		return nil, nil
	}
	var entries []gateway.CacheOptionsEntry
	if err := json.Unmarshal([]byte(s), &entries); err != nil {
		return nil, fmt.Errorf("cache imports of the build: %w", err)
	}
	return entries, nil
}

// cacheImportStep is how BuildKit names the step that loads an import's
// cache manifest; the name goes on with the import's registry ref, or its
// type and a hash.
const cacheImportStep = "importing cache manifest from "

// ReportImports makes a cache import that has nothing to import (the
// first build of a branch) one warning in the build's progress, and passes
// the rest of the progress on to status unchanged. BuildKit builds on
// without such an import in any case, but says so as a failed step, or for
// a local directory only in its client's log. Local imports with nothing to
// import are taken out of so here. The returned channel replaces status and
// is closed by the build; status is closed after it.
func ReportImports(so *client.SolveOpt, status chan *client.SolveStatus) chan *client.SolveStatus {
	var empty []*client.Vertex
	var warnings []*client.VertexWarning
	imports := so.CacheImports[:0:0]
	for _, e := range so.CacheImports {
		if e.Type == "local" && e.Attrs["digest"] == "" {
			if why := emptyLocalCache(e.Attrs["src"], e.Attrs["tag"]); why != "" {
				now := time.Now()
				v := &client.Vertex{Digest: digest.FromString(cacheImportStep + e.Attrs["src"]), Name: cacheImportStep + e.Attrs["src"], Started: &now, Completed: &now}
				empty = append(empty, v)
				warnings = append(warnings, noCacheWarning(v, why))
				continue
			}
		}
		imports = append(imports, e)
	}
	so.CacheImports = imports
	if status == nil {
		return nil
	}
	in := make(chan *client.SolveStatus)
	go func() {
		defer close(status)
		if len(empty) > 0 {
			status <- &client.SolveStatus{Vertexes: empty, Warnings: warnings}
		}
		for s := range in {
			for i, v := range s.Vertexes {
				if !strings.HasPrefix(v.Name, cacheImportStep) || v.Error == "" {
					continue
				}
				s.Warnings = append(s.Warnings, noCacheWarning(v, v.Error))
				cleared := *v
				cleared.Error = ""
				s.Vertexes[i] = &cleared
			}
			status <- s
		}
	}()
	return in
}

func noCacheWarning(v *client.Vertex, why string) *client.VertexWarning {
	from := strings.TrimPrefix(v.Name, cacheImportStep)
	return &client.VertexWarning{
		Vertex: v.Digest,
		Short:  fmt.Appendf(nil, "no cache imported from %s (%s); building without it", from, why),
	}
}

// emptyLocalCache tells why the local cache directory dir has no cache under
// tag (default latest), or "" when it has one.
func emptyLocalCache(dir, tag string) string {
	if tag == "" {
		tag = "latest"
	}
	desc, err := ociindex.NewStoreIndex(dir).Get(tag)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "nothing there yet"
	case err != nil:
		return err.Error()
	case desc == nil:
		return "no cache tagged " + tag
	}
	return ""
}
