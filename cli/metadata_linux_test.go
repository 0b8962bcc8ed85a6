package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestMetadataFileFailureWritesNothing: the metadata file is written before
// the outputs are moved into place, so a failure to write it (here a full
// file system, a tmpfs the test mounts and fills) leaves no output behind.
func TestMetadataFileFailureWritesNothing(t *testing.T) {
	env := testenv.Get(t)
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "mounting a full file system for the metadata file needs root")
	}
	full := t.TempDir()
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(full, unix.MNT_DETACH) })
	filler, err := os.Create(filepath.Join(full, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err = filler.Write(make([]byte, 4096)); err == nil; _, err = filler.Write(make([]byte, 4096)) {
	}
	filler.Close()
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want no space left", err)
	}

	out := t.TempDir()
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet",
		"-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"),
		"-o", "type=oci,tar=false,dest="+filepath.Join(out, "layout"),
		"--metadata-file", filepath.Join(full, "metadata.json"))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "metadata file") || !strings.Contains(stderr, "no space left on device") {
		t.Errorf("stderr = %q, want one line saying the metadata file could not be written", stderr)
	}
	assertNoOutputs(t, out)
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the metadata file's folder holds %v, want the filler alone", entries)
	}
}
