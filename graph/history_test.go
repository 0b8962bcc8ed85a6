package graph

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestImageConfigHistory(t *testing.T) {
	pin := ref.Pin("docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")
	base := llb.Image(pin.String())
	users := llb.Scratch().File(llb.Mkfile("/etc/passwd", 0o644, []byte("root:x:0:0::/root:/bin/sh\n")), llb.WithCustomName("users"))
	app := llb.Scratch().File(llb.Mkdir("/app", 0o755).Mkfile("/app/main.py", 0o644, nil)) // unnamed, two actions: one layer
	merged := llb.Merge([]llb.State{base, users, app})
	run := merged.Run(llb.Args([]string{"/bin/true"}), llb.WithCustomName("run true")).Root()
	other := llb.Image("docker.io/library/alpine:3.20")
	created := time.Unix(1700000000, 0).UTC()

	tests := []struct {
		name       string
		root       llb.State
		baseConfig string
		want       []string // created_by of each entry
	}{
		{"merge, file op, process", run.File(llb.Rm("/tmp"), llb.WithCustomName("clean")),
			`{"history":[{"created_by":"base layer"},{"created_by":"base env","empty_layer":true}],"rootfs":{"diff_ids":["sha256:aaaa"]}}`,
			[]string{"base layer", "base env", "users", "mkdir /app", "run true", "clean"}},
		{"base without history", merged,
			`{"rootfs":{"diff_ids":["sha256:aaaa","sha256:bbbb"]}}`,
			[]string{"", "", "users", "mkdir /app"}},
		{"diff: left to BuildKit", llb.Diff(base, run),
			`{"history":[{"created_by":"base layer"}],"rootfs":{"diff_ids":["sha256:aaaa"]}}`,
			[]string{"base layer"}},
		{"another image: left to BuildKit", other.File(llb.Mkdir("/x", 0o755)),
			`{"history":[{"created_by":"base layer"}],"rootfs":{"diff_ids":["sha256:aaaa"]}}`,
			[]string{"base layer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}, Root: tt.root, Base: pin}
			dt, err := img.ImageConfig([]byte(tt.baseConfig), &created)
			if err != nil {
				t.Fatal(err)
			}
			var got dockerspec.DockerOCIImage
			if err := json.Unmarshal(dt, &got); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range got.History {
				names = append(names, h.CreatedBy)
				if h.Comment == historyComment && (h.Created == nil || !h.Created.Equal(created)) {
					t.Errorf("entry %q created %v, want %v", h.CreatedBy, h.Created, created)
				}
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}
