package builder

import (
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// TestStepWarningsSaidOnce: a warning line two steps print is taken out of
// their output and said once, at the end, as the first step's warning.
func TestStepWarningsSaidOnce(t *testing.T) {
	out := make(chan *client.SolveStatus, 16)
	p := &progress{out: out}
	a, b := digest.FromString("a"), digest.FromString("b")
	line := WarningPrefix + "build requirements float\n"
	for _, v := range []digest.Digest{a, b} {
		ch := p.next()
		ch <- &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: v, Data: []byte("building\n" + line + "built\n")}}}
		ch <- &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: v, Data: []byte(line)}}}
		close(ch)
	}
	p.close()
	var logs string
	var warnings []*client.VertexWarning
	for s := range out {
		for _, l := range s.Logs {
			logs += string(l.Data)
		}
		warnings = append(warnings, s.Warnings...)
	}
	if want := "building\nbuilt\nbuilding\nbuilt\n"; logs != want {
		t.Errorf("steps' output %q, want %q", logs, want)
	}
	if len(warnings) != 1 || warnings[0].Vertex != a || string(warnings[0].Short) != "build requirements float" {
		t.Errorf("warnings %+v, want the one from the first step", warnings)
	}
	if diff := gocmp.Diff([]string{"build requirements float"}, p.said()); diff != "" {
		t.Errorf("said (-want +got):\n%s", diff)
	}
}
