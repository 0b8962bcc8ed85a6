package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/buildkit/client"
)

func TestLayoutOutputIsStagedBesideItsDestination(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "image")
	out := Output{Type: client.ExporterOCI, Dest: dest, Attrs: map[string]string{"tar": "false"}}

	var st staged
	e, err := st.entry(out)
	if err != nil {
		t.Fatal(err)
	}
	if e.Output != nil || e.OutputDir == "" {
		t.Fatalf("tar=false: want a directory export (OutputDir), got Output %v, OutputDir %q", e.Output != nil, e.OutputDir)
	}
	if filepath.Dir(e.OutputDir) != dir || e.OutputDir == dest {
		t.Errorf("staged in %s, want a partial folder beside %s", e.OutputDir, dest)
	}
	if err := os.WriteFile(filepath.Join(e.OutputDir, "index.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("%s exists before the build succeeded (%v)", dest, err)
	}
	if err := st.commit(); err != nil {
		t.Fatal(err)
	}
	st.discard()
	if _, err := os.Stat(filepath.Join(dest, "index.json")); err != nil {
		t.Errorf("after commit: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after commit %s holds %d entries, want the layout alone", dir, len(entries))
	}

	// A build that fails leaves neither the layout nor its partial folder,
	// and an earlier layout at the destination stays as it was.
	var failed staged
	e, err = failed.entry(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.OutputDir, "index.json"), []byte(`{"partial":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	failed.discard()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after a failed build %s holds %d entries, want the earlier layout alone", dir, len(entries))
	}
	if dt, err := os.ReadFile(filepath.Join(dest, "index.json")); err != nil || string(dt) != "{}" {
		t.Errorf("earlier layout's index.json: %q, %v", dt, err)
	}
}
