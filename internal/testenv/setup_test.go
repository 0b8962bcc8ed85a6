//go:build unix

package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// standinDebootstrap writes a stand-in for debootstrap into a folder of its
// own and returns the folder, for PATH, and the file each run appends a
// line to. It takes a second, so that set-ups started together overlap,
// and makes a small tree where debootstrap would make the rootfs.
func standinDebootstrap(t *testing.T) (bin, runs string) {
	t.Helper()
	bin = t.TempDir()
	runs = filepath.Join(t.TempDir(), "runs")
	script := `#!/bin/sh
# Stand-in for debootstrap in imagebuild's set-up tests: records the run,
# waits, and makes a small tree at the target ($4).
echo "$*" >>` + runs + `
sleep 1
mkdir -p "$4/sbin" "$4/dev" "$4/usr/bin" "$4/var/cache/apt/archives" "$4/var/lib/apt/lists"
echo python >"$4/usr/bin/python3"
`
	if err := os.WriteFile(filepath.Join(bin, "debootstrap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, runs
}

// setupCmd is testbase-rootfs.sh for this machine's architecture, with the
// project's cache at cache and bin first in PATH.
func setupCmd(cache, bin string) *exec.Cmd {
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "testbase-rootfs.sh"))
	cmd.Env = append(os.Environ(), "IMAGEBUILD_CACHE="+cache, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return cmd
}

func countRuns(t *testing.T, runs string) int {
	t.Helper()
	dt, err := os.ReadFile(runs)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(dt), "\n")
}

// checkTree checks the tree the set-up printed is whole: the stand-in's
// files, the stand-in apk the script adds last, and its .complete mark.
func checkTree(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{"usr/bin/python3", "sbin/apk"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("tree %s: %v", dir, err)
		}
	}
	if _, err := os.Stat(dir + ".complete"); err != nil {
		t.Errorf("tree %s has no .complete mark: %v", dir, err)
	}
	if _, err := os.Stat(dir + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial is left behind (%v)", dir, err)
	}
}

// TestTestbaseSetUpOnce runs the test base's set-up twice at once on an
// empty cache, as two test packages do on a fresh machine: one makes the
// tree, the other waits for it and takes it, and both print it.
func TestTestbaseSetUpOnce(t *testing.T) {
	cache := t.TempDir()
	bin, runs := standinDebootstrap(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			cmd := setupCmd(cache, bin)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = err
				t.Errorf("set-up %d: %v\n%s", i, err, stderr.String())
			}
			outs[i] = strings.TrimSpace(stdout.String())
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		return
	}
	if outs[0] != outs[1] || outs[0] == "" {
		t.Fatalf("the two set-ups printed %q and %q, want one tree", outs[0], outs[1])
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("debootstrap ran %d times, want once", n)
	}
	checkTree(t, outs[0])

	// Made once, it is taken as it is.
	if out, err := setupCmd(cache, bin).Output(); err != nil || strings.TrimSpace(string(out)) != outs[0] {
		t.Fatalf("set-up again: %v, %q", err, out)
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("debootstrap ran %d times after a third set-up, want once", n)
	}
}

// TestTestbaseHalfMade: a set-up killed while it makes the tree leaves it
// half-made, and a tree without its .complete mark is half-made too; the
// next set-up makes it again rather than take it.
func TestTestbaseHalfMade(t *testing.T) {
	cache := t.TempDir()
	bin, runs := standinDebootstrap(t)
	cmd := setupCmd(cache, bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); countRuns(t, runs) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in debootstrap never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	out, err := setupCmd(cache, bin).Output()
	if err != nil {
		t.Fatalf("set-up after a killed one: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if n := countRuns(t, runs); n != 2 {
		t.Errorf("debootstrap ran %d times, want twice: the killed set-up's tree was taken", n)
	}
	checkTree(t, dir)

	if err := os.Remove(dir + ".complete"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := setupCmd(cache, bin).Output(); err != nil || strings.TrimSpace(string(out)) != dir {
		t.Fatalf("set-up of a tree without its mark: %v, %q", err, out)
	}
	if n := countRuns(t, runs); n != 3 {
		t.Errorf("debootstrap ran %d times, want 3: a tree without its .complete mark was taken", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("the unmarked tree's files are still there (%v)", err)
	}
	checkTree(t, dir)
}
