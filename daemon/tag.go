package daemon

import (
	"context"
	"fmt"

	dockerclient "github.com/moby/moby/client"
)

// Tag names the image id (an image ID or digest the engine holds) name in
// the engine's image store, as `docker tag` does.
func (e *Engine) Tag(ctx context.Context, id, name string) error {
	if _, err := e.api.ImageTag(ctx, dockerclient.ImageTagOptions{Source: id, Target: name}); err != nil {
		return fmt.Errorf("docker engine at %s: tag %s as %s: %w", e.Host, id, name, err)
	}
	return nil
}
