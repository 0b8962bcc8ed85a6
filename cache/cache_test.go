package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

func TestCacheExportsDefaultToModeMax(t *testing.T) {
	type attrs = map[string]string
	in := []client.CacheOptionsEntry{
		{Type: "registry", Attrs: attrs{"ref": "r/c:main"}},
		{Type: "registry", Attrs: attrs{"ref": "r/c:min", "mode": "min"}},
		{Type: "local", Attrs: attrs{"dest": "/tmp/c"}},
		{Type: "inline"},
	}
	got := Exports(in)
	want := []client.CacheOptionsEntry{
		{Type: "registry", Attrs: attrs{"ref": "r/c:main", "mode": "max"}},
		{Type: "registry", Attrs: attrs{"ref": "r/c:min", "mode": "min"}},
		{Type: "local", Attrs: attrs{"dest": "/tmp/c", "mode": "max"}},
		{Type: "inline", Attrs: attrs{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := in[0].Attrs["mode"]; ok {
		t.Errorf("Exports changed its input: %v", in[0].Attrs)
	}
}

func TestValidateCache(t *testing.T) {
	type attrs = map[string]string
	tests := []struct {
		name   string
		export bool
		e      client.CacheOptionsEntry
		want   string // "" for valid
	}{
		{"registry", true, client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "127.0.0.1:5000/c:main", "mode": "max"}}, ""},
		{"s3 from the daemon's environment", false, client.CacheOptionsEntry{Type: "s3", Attrs: attrs{"bucket": "b"}}, ""},
		{"no type", true, client.CacheOptionsEntry{Attrs: attrs{"ref": "r/c"}}, "no type"},
		{"mode typo", true, client.CacheOptionsEntry{Type: "local", Attrs: attrs{"dest": "d", "mode": "Max"}}, "mode=Max"},
		{"inline import", false, client.CacheOptionsEntry{Type: "inline"}, `unknown type "inline"`},
		{"ref not lowercase", false, client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "r/Case:main"}}, "ref=r/Case:main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validate := ValidateImport
			if tt.export {
				validate = ValidateExport
			}
			err := validate(tt.e)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid)):
				t.Errorf("error = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestEmptyLocalCache(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none")
	if got := emptyLocalCache(missing, ""); got != "nothing there yet" {
		t.Errorf("missing directory: %q, want nothing there yet", got)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("looking made the directory: %v", err)
	}
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` +
		strings.Repeat("ab", 32) + `","size":1,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := emptyLocalCache(dir, ""); got != "" {
		t.Errorf("cache tagged latest: %q, want none", got)
	}
	if got := emptyLocalCache(dir, "main"); got != "no cache tagged main" {
		t.Errorf("other tag: %q, want no cache tagged main", got)
	}
}

func TestReportCacheImports(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "cache")
	so := client.SolveOpt{CacheImports: []client.CacheOptionsEntry{
		{Type: "registry", Attrs: map[string]string{"ref": "r/c:main"}},
		{Type: "local", Attrs: map[string]string{"src": missing}},
	}}
	status := make(chan *client.SolveStatus)
	in := ReportImports(&so, status)
	if diff := cmp.Diff([]client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": "r/c:main"}}}, so.CacheImports); diff != "" {
		t.Errorf("imports left for BuildKit (-want +got):\n%s", diff)
	}
	step := &client.Vertex{Digest: digest.FromString("import"), Name: "importing cache manifest from r/c:main", Error: "r/c:main: not found"}
	run := &client.Vertex{Digest: digest.FromString("run"), Name: "builder: pip install", Error: "exit code 1"}
	go func() {
		in <- &client.SolveStatus{Vertexes: []*client.Vertex{step, run}}
		close(in)
	}()
	var got []*client.SolveStatus
	for s := range status {
		got = append(got, s)
	}
	if len(got) != 2 {
		t.Fatalf("got %d status updates, want the local import's and the build's", len(got))
	}
	var warnings []string
	for _, s := range got {
		for _, w := range s.Warnings {
			warnings = append(warnings, string(w.Short))
		}
	}
	want := []string{
		"no cache imported from " + missing + " (nothing there yet); building without it",
		"no cache imported from r/c:main (r/c:main: not found); building without it",
	}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if v := got[1].Vertexes; v[0].Error != "" || v[1].Error != "exit code 1" {
		t.Errorf("errors after = %q, %q; want the import's cleared, the step's kept", v[0].Error, v[1].Error)
	}
}
