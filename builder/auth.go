package builder

import (
	"context"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
)

// sessionAuth is how the daemon asks the client for a registry's
// credentials during a build (to pull a base, push an image, read or write
// a registry cache): from keychain, as [ref.Keychain] has it, the same
// credentials the client reads back and pushes with.
func sessionAuth(keychain authn.Keychain) session.Attachable {
	kc := ref.Keychain(keychain)
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(ctx context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			// BuildKit asks for Docker Hub by its registry's host.
			if host == "registry-1.docker.io" {
				host = name.DefaultRegistry
			}
			reg, err := name.NewRegistry(host)
			if err != nil {
				return types.AuthConfig{}, err
			}
			a, err := kc.Resolve(reg)
			if err != nil {
				return types.AuthConfig{}, err
			}
			cfg, err := authn.Authorization(ctx, a)
			if err != nil {
				return types.AuthConfig{}, err
			}
			return types.AuthConfig{
				Username:      cfg.Username,
				Password:      cfg.Password,
				Auth:          cfg.Auth,
				IdentityToken: cfg.IdentityToken,
				RegistryToken: cfg.RegistryToken,
			}, nil
		},
	})
}
