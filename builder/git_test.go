package builder

import (
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
)

// TestWithSource: the library, not the command line, dates and labels an
// image from its build context's git work tree, so every caller of Build
// gets the same image.
func TestWithSource(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"remote", "add", "origin", "https://user:token@git.example.com/team/app.git"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x", "--date", "@1700000000 +0000"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(cmd.Environ(), "GIT_COMMITTER_DATE=@1700000000 +0000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	rev, ok := git(t.Context(), dir, "rev-parse", "HEAD")
	if !ok {
		t.Fatal("git rev-parse HEAD failed")
	}
	bctx, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	imgs := []graph.Image{{Context: bctx, Config: graph.Config{Labels: map[string]string{LabelSource: "set by the recipe"}}}}
	got, opt := withSource(t.Context(), imgs, run{})
	if opt.SourceDateEpoch == nil || !opt.SourceDateEpoch.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("epoch = %v, want the commit time 1700000000", opt.SourceDateEpoch)
	}
	want := map[string]string{LabelRevision: rev, LabelSource: "set by the recipe"}
	if diff := cmp.Diff(want, got[0].Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if _, ok := imgs[0].Config.Labels[LabelRevision]; ok {
		t.Error("withSource changed the caller's image")
	}

	imgs[0].Config.Labels = nil
	given := time.Unix(42, 0)
	got, opt = withSource(t.Context(), imgs, run{Options: Options{SourceDateEpoch: &given}})
	if !opt.SourceDateEpoch.Equal(given) || got[0].Config.Labels[LabelSource] != "https://git.example.com/team/app.git" {
		t.Errorf("epoch %v, labels %v: want the given epoch and the remote without credentials", opt.SourceDateEpoch, got[0].Config.Labels)
	}

	outside, err := graph.LoadContext(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, opt = withSource(t.Context(), []graph.Image{{Context: outside}}, run{})
	if !opt.SourceDateEpoch.Equal(time.Unix(0, 0)) || len(got[0].Config.Labels) != 0 {
		t.Errorf("outside git: epoch %v, labels %v; want the Unix epoch and none", opt.SourceDateEpoch, got[0].Config.Labels)
	}
}
