package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImageChecksLinkNoSigningNorBuilding checks what the image checks
// link: neither sigstore's libraries (signatures are checked by package
// sign, beside these checks) nor BuildKit's client, so that a deploy or a
// scanner that verifies images carries neither.
func TestImageChecksLinkNoSigningNorBuilding(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/sigstore/") || strings.HasPrefix(pkg, "github.com/moby/buildkit/client") {
			t.Errorf("package verify links %s", pkg)
		}
	}
}
