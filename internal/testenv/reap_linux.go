package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// reap kills the processes of the containers of a daemon killed with its
// root under dir (each runs in the cgroup buildkit/ID, ID the name of its
// folder in the daemon's executor folder), and unmounts what is mounted
// under dir, deepest first.
func reap(t testing.TB, dir string) {
	t.Helper()
	execs, _ := filepath.Glob(filepath.Join(dir, "root", "*", "executor", "*"))
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cgroup, err := os.ReadFile(filepath.Join(p, "cgroup"))
		if err != nil {
			continue
		}
		for _, e := range execs {
			if strings.Contains(string(cgroup), "/buildkit/"+filepath.Base(e)+"\n") {
				if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	unmountUnder(t, dir)
}

// unmountUnder unmounts what is mounted under dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for line := range strings.SplitSeq(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
}
