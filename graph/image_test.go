package graph

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/ref"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestImageConfig(t *testing.T) {
	base := `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin","LANG=C.UTF-8","GPG_KEY=abc"],"Cmd":["python3"],"Labels":{"maintainer":"upstream"}},"history":[{"created_by":"base layer"}],"rootfs":{"type":"layers","diff_ids":["sha256:aaaa"]}}`
	img := Image{
		Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Base:     ref.Pin("docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"),
		Config: Config{
			Path:       []string{"/opt/venv/bin"},
			Env:        []string{"LANG=en_US.UTF-8", "APP_ENV=prod"},
			User:       "appuser",
			WorkingDir: "/app",
			Cmd:        []string{"python", "-m", "app"},
			Labels:     map[string]string{"org.opencontainers.image.title": "app"},
		},
	}
	dt, err := img.ImageConfig([]byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got dockerspec.DockerOCIImage
	if err := json.Unmarshal(dt, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"PATH=/opt/venv/bin:/usr/local/bin:/usr/bin", "LANG=en_US.UTF-8", "GPG_KEY=abc", "APP_ENV=prod"}, got.Config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if got.Config.User != "appuser" || got.Config.WorkingDir != "/app" {
		t.Errorf("user, workdir = %q, %q", got.Config.User, got.Config.WorkingDir)
	}
	if diff := cmp.Diff([]string{"python", "-m", "app"}, got.Config.Cmd); diff != "" {
		t.Errorf("cmd (-want +got):\n%s", diff)
	}
	wantLabels := map[string]string{
		"maintainer":                     "upstream",
		"org.opencontainers.image.title": "app",
		ref.LabelBaseName:                "docker.io/library/python:3.12-alpine",
		ref.LabelBaseDigest:              "sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d",
	}
	if diff := cmp.Diff(wantLabels, got.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if len(got.History) != 1 || got.History[0].CreatedBy != "base layer" || len(got.RootFS.DiffIDs) != 1 {
		t.Errorf("base history and rootfs not kept: %+v %+v", got.History, got.RootFS)
	}
}

func TestImageConfigBaseWithoutPath(t *testing.T) {
	img := Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "arm64"}, Config: Config{Path: []string{"/opt/venv/bin"}}}
	created := time.Unix(1700000000, 0)
	dt, err := img.ImageConfig([]byte(`{"architecture":"amd64","os":"linux","config":{}}`), &created)
	if err != nil {
		t.Fatal(err)
	}
	var got dockerspec.DockerOCIImage
	if err := json.Unmarshal(dt, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"PATH=/opt/venv/bin:" + DefaultPath}, got.Config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if got.Created == nil || !got.Created.Equal(created) || got.Config.Labels[LabelCreated] != "2023-11-14T22:13:20Z" {
		t.Errorf("created = %v, label %q; want %v", got.Created, got.Config.Labels[LabelCreated], created)
	}
	if got.Architecture != "arm64" {
		t.Errorf("architecture = %q, want the image's platform, arm64", got.Architecture)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		ok   bool
	}{
		{name: "zero", ok: true},
		{name: "env", c: Config{Env: []string{"A=1", "B="}}, ok: true},
		{name: "env without =", c: Config{Env: []string{"A"}}},
		{name: "env sets PATH", c: Config{Env: []string{"PATH=/x"}}},
		{name: "healthcheck", c: Config{Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}}}, ok: true},
		{name: "healthcheck without kind", c: Config{Healthcheck: &Healthcheck{Test: []string{"true"}}}},
		{name: "healthcheck negative retries", c: Config{Healthcheck: &Healthcheck{Test: []string{"CMD-SHELL", "true"}, Retries: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestValidContextPath(t *testing.T) {
	for _, p := range []string{"requirements.txt", "deploy/requirements.txt"} {
		if err := ValidContextPath(p); err != nil {
			t.Errorf("ValidContextPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", ".", "..", "../x", "/etc/passwd", "a/../b", "./a"} {
		if err := ValidContextPath(p); err == nil {
			t.Errorf("ValidContextPath(%q) = nil, want an error", p)
		}
	}
}
