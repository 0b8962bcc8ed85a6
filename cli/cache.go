package cli

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/tonistiigi/go-csvvalue"
)

// parseCacheTo parses --cache-to specs with buildctl's parser, in buildctl's
// and buildx's syntax (type=registry,ref=REF,mode=max, type=local,dest=DIR,
// type=inline, type=gha, ...); a bare REF is type=registry,ref=REF. An
// export that names no mode gets mode=max from the library, not buildctl's
// min. What it parses is checked by the plan (builder.NewPlan), which
// names the flag.
func parseCacheTo(specs []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, spec := range specs {
		entries, err := build.ParseExportCache([]string{registryShorthand(spec)})
		if err != nil {
			return nil, usagef("--cache-to %s: %v", redactCache(spec), err)
		}
		e := entries[0]
		if !hasField(spec, "mode") {
			delete(e.Attrs, "mode")
		}
		out = append(out, e)
	}
	return out, nil
}

// parseCacheFrom parses --cache-from specs as parseCacheTo does
// (type=registry,ref=REF, type=local,src=DIR, type=gha, ..., or a bare REF).
func parseCacheFrom(specs []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, spec := range specs {
		entries, err := build.ParseImportCache([]string{registryShorthand(spec)})
		if err != nil {
			return nil, usagef("--cache-from %s: %v", redactCache(spec), err)
		}
		out = append(out, entries[0])
	}
	return out, nil
}

// registryShorthand turns a bare REF into type=registry,ref=REF, as buildx
// reads it. (buildctl's parser does too, but logs a deprecation warning.)
func registryShorthand(spec string) string {
	if strings.Contains(spec, "type=") {
		return spec
	}
	return "type=registry,ref=" + spec
}

// hasField tells whether the CSV spec has a field named key.
func hasField(spec, key string) bool {
	fields, _ := csvvalue.Fields(spec, nil)
	for _, f := range fields {
		if k, _, _ := strings.Cut(f, "="); strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// secretCacheAttrs are cache attributes that hold credentials.
var secretCacheAttrs = []string{"token", "ghtoken", "access_key_id", "secret_access_key", "session_token"}

// redactCache returns spec quoted for an error message, with the values of
// credential fields hidden.
func redactCache(spec string) string {
	fields, err := csvvalue.Fields(spec, nil)
	if err != nil {
		for _, s := range secretCacheAttrs {
			if strings.Contains(strings.ToLower(spec), s) {
				return "(spec not shown: it may hold credentials)"
			}
		}
		return strconv.Quote(spec)
	}
	for i, f := range fields {
		k, _, _ := strings.Cut(f, "=")
		for _, s := range secretCacheAttrs {
			if strings.EqualFold(k, s) {
				fields[i] = k + "=xxxxx"
			}
		}
	}
	return strconv.Quote(strings.Join(fields, ","))
}
