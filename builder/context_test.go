package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadContext(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(a, ".dockerignore"), []byte("# secrets\n*.env\n/build\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadContext(a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"*.env", "build"}, ca.Exclude); diff != "" {
		t.Errorf("exclude patterns (-want +got):\n%s", diff)
	}
	cb, err := LoadContext(b)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Exclude != nil {
		t.Errorf("no .dockerignore, exclude = %q", cb.Exclude)
	}
	if ca.ID == "" || ca.ID == cb.ID {
		t.Errorf("context IDs %q and %q: want distinct IDs for distinct directories", ca.ID, cb.ID)
	}
	again, err := LoadContext(a + "/.")
	if err != nil || again.ID != ca.ID {
		t.Errorf("same directory, IDs %q and %q (%v): want one", ca.ID, again.ID, err)
	}
	f := filepath.Join(a, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{f, filepath.Join(a, "missing")} {
		if _, err := LoadContext(bad); err == nil {
			t.Errorf("LoadContext(%s) = nil error, want one", bad)
		}
	}
}
