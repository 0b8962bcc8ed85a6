package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/daemon"
)

// TestBuilderUsage checks --builder's usage errors: exit 2, one line, before
// any daemon is contacted (--addr and the builders' addresses are tripwires).
func TestBuilderUsage(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"platform not named", []string{"--platform", "linux/amd64", "--builder", "linux/arm64={addr}"}, "--platform does not name linux/arm64"},
		{"no platform", []string{"--builder", "linux/arm64={addr}"}, "--platform does not name linux/arm64"},
		{"not PLATFORM=ADDR", []string{"--platform", "linux/arm64", "--builder", "linux/arm64"}, "want PLATFORM=ADDR"},
		{"unknown scheme", []string{"--platform", "linux/arm64", "--builder", "linux/arm64=http://host"}, "--builder"},
		{"twice", []string{"--platform", "linux/arm64", "--builder", "linux/arm64={addr}", "--builder", "linux/arm64={addr}"}, "linux/arm64 named twice"},
		{"docker output", []string{"--platform", "linux/arm64", "--builder", "linux/arm64={addr}", "-o", "type=docker,dest=" + dest}, "type=oci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"build", "python-alpine", "--addr", "{addr}", "--context", appContext(t)}, tc.args...)
			if !slices.Contains(tc.args, "-o") {
				args = append(args, "-o", "type=oci,dest="+dest)
			}
			stdout, stderr, code := cliNoDaemon(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
			}
			if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stdout %q, stderr %q; want one line saying %q", stdout, stderr, tc.want)
			}
		})
	}
}

// TestBuilderFlags checks how --builder becomes the library's builders:
// each platform's daemon, with --addr's TLS flags.
func TestBuilderFlags(t *testing.T) {
	o := buildOptions{builders: []string{"linux/arm64=tcp://arm64.example.com:1234", "linux/riscv64=unix:///run/riscv.sock"}}
	o.daemonOptions.serverName = "builders.example.com"
	got, err := o.parseBuilders()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]daemon.Config{
		"linux/arm64":   {Addr: "tcp://arm64.example.com:1234", ServerName: "builders.example.com"},
		"linux/riscv64": {Addr: "unix:///run/riscv.sock", ServerName: "builders.example.com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("builders (-want +got):\n%s", diff)
	}
}
