package sign_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/sign"
)

func TestCosignInterop(t *testing.T) {
	cosign := testenv.NewCosignCLI(t)
	ctx := context.Background()
	repo := testRegistry(t)

	if _, err := cosign.Run(t, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v", err)
	}
	key, pub := filepath.Join(cosign.Dir, "cosign.key"), filepath.Join(cosign.Dir, "cosign.pub")
	s, err := sign.LoadSigner(key, []byte(testenv.CosignPassword))
	if err != nil {
		t.Fatalf("load cosign's private key: %v", err)
	}
	v, err := sign.LoadVerifier(pub)
	if err != nil {
		t.Fatalf("load cosign's public key: %v", err)
	}
	_, otherPub := testenv.CosignKeyPair(t, "other")

	t.Run("cosign verifies our signature", func(t *testing.T) {
		d := pushRandom(t, repo, "ours")
		if err := sign.Sign(ctx, repo, d, s); err != nil {
			t.Fatal(err)
		}
		ref := repo.Digest(d.String()).String()
		out, err := cosign.Verify(t, pub, ref)
		if err != nil {
			t.Fatalf("cosign verify of our signature: %v", err)
		}
		if !strings.Contains(out, `"docker-manifest-digest":"`+d.String()+`"`) {
			t.Errorf("cosign verify printed no payload for %s", d)
		}
		if _, err := cosign.Verify(t, otherPub, ref); err == nil {
			t.Errorf("cosign verify with another key passed")
		}
		// cosign finds our signature to be the one it would write: signing
		// again adds no layer.
		if _, err := cosign.Sign(t, key, ref); err != nil {
			t.Fatalf("cosign sign: %v", err)
		}
		if n := len(sigManifest(t, repo, d).Layers); n != 1 {
			t.Errorf("after our Sign and cosign sign with the same key: %d signature layers, want 1", n)
		}
	})

	t.Run("we verify cosign's signature", func(t *testing.T) {
		d := pushRandom(t, repo, "theirs")
		ref := repo.Digest(d.String()).String()
		if _, err := cosign.Sign(t, key, ref); err != nil {
			t.Fatalf("cosign sign: %v", err)
		}
		if err := sign.Verify(ctx, repo, d, v); err != nil {
			t.Fatalf("Verify of cosign's signature: %v", err)
		}
		if err := sign.Sign(ctx, repo, d, s); err != nil {
			t.Fatal(err)
		}
		if n := len(sigManifest(t, repo, d).Layers); n != 1 {
			t.Errorf("after cosign sign and our Sign with the same key: %d signature layers, want 1", n)
		}

		// Another image pushed to the same tag is not signed.
		moved := pushRandom(t, repo, "theirs")
		oneLine(t, sign.Verify(ctx, repo, moved, v), "no signature for "+moved.String())
		if _, err := cosign.Verify(t, pub, repo.Tag("theirs").String()); err == nil {
			t.Errorf("cosign verify of the tag's new image passed")
		}
	})
}
