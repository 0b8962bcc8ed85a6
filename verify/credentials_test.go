package verify

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// TestCredentials: a URL with user info (a token alone is enough) in a pip
// config, a .pypirc, a requirements file, the file PIP_CONFIG_FILE names
// or the config's environment fails the credential check, naming where it
// is; URLs without user info pass.
func TestCredentials(t *testing.T) {
	padding := strings.Repeat("# a long comment to pad the file past what verify used to read\n", 2000)
	for _, tc := range []struct {
		name  string
		files []file
		env   []string
		found string // "" for none
	}{
		{name: "token in /etc/pip.conf", files: []file{{Path: "/etc/pip.conf", Body: []byte("[global]\nindex-url = https://TOKEN@pypi.example.com/simple\n")}},
			found: "/etc/pip.conf (pip config with credentials in a URL)"},
		{name: "__token__ in a user's pip.conf", files: []file{{Path: "/root/.config/pip/pip.conf", Body: []byte("[global]\nextra-index-url=https://__token__:x@pypi.example.com/simple\n")}},
			found: "/root/.config/pip/pip.conf (pip config with a password)"},
		{name: "token in pip.ini", files: []file{{Path: "/etc/xdg/pip/pip.ini", Body: []byte("[global]\nindex-url=https://ghp_abc123@pypi.example.com/simple\n")}},
			found: "/etc/xdg/pip/pip.ini (pip config with credentials in a URL)"},
		{name: "token after 128 kB of comments", files: []file{{Path: "/etc/pip.conf", Body: []byte("[global]\n" + padding + "index-url = https://TOKEN@pypi.example.com/simple\n")}},
			found: "/etc/pip.conf (pip config with credentials in a URL)"},
		{name: "password in pip.conf", files: []file{{Path: "/etc/pip.conf", Body: []byte("[global]\nindex-url = https://ci:s3cret@pypi.example.com/simple/\n")}},
			found: "/etc/pip.conf (pip config with a password)"},
		{name: "token in .pypirc", files: []file{owned(file{Path: "/app/.pypirc", Body: []byte("[internal]\nrepository = https://TOKEN@upload.example.com/\n")})},
			found: "/app/.pypirc (.pypirc with credentials)"},
		{name: ".netrc", files: []file{owned(file{Path: "/app/.netrc", Body: []byte("machine pypi.example.com login x\n")})},
			found: "/app/.netrc (.netrc)"},
		{name: "token in a requirements file", files: []file{owned(file{Path: "/app/requirements.txt", Body: []byte("--index-url https://TOKEN@pypi.example.com/simple\nflask==3.0.0\n")})},
			found: "/app/requirements.txt (requirements file with credentials in a URL)"},
		{name: "token in the file PIP_CONFIG_FILE names", env: []string{"PIP_CONFIG_FILE=/app/settings.cfg"},
			files: []file{owned(file{Path: "/app/settings.cfg", Body: []byte("[global]\nindex-url = https://TOKEN@pypi.example.com/simple\n")})},
			found: "/app/settings.cfg (pip config with credentials in a URL)"},
		{name: "token in the environment", env: []string{"PIP_INDEX_URL=https://TOKEN@pypi.example.com/simple"},
			found: "the config's Env PIP_INDEX_URL (credentials in a URL)"},
		{name: "an index URL without user info", files: []file{{Path: "/etc/pip.conf", Body: []byte("[global]\nindex-url = https://pypi.example.com/simple\ntrusted-host = pypi.example.com\n")}}},
		{name: "an @ in the path, not the host", files: []file{{Path: "/etc/pip.conf", Body: []byte("[global]\nindex-url = https://pypi.example.com/simple/@scope\n")}}},
		{name: "a requirements file without user info", files: []file{owned(file{Path: "/app/requirements.txt", Body: []byte("--index-url https://pypi.example.com/simple\nflask==3.0.0\n")})},
			env: []string{"PIP_INDEX_URL=https://pypi.example.com/simple"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testenv.Image(t, "appuser", baseLayer(t), appLayer(t, tc.files...))
			if len(tc.env) > 0 {
				img = withEnv(t, img, tc.env...)
			}
			res := result(run(t, img), "no package-manager")
			ev := strings.Join(res.Evidence, "\n")
			switch {
			case tc.found == "" && res.Status != Pass:
				t.Errorf("credential check: %s %q, want pass", res.Status, res.Evidence)
			case tc.found != "" && (res.Status != Fail || !strings.Contains(ev, tc.found)):
				t.Errorf("credential check: %s %q, want fail naming %q", res.Status, res.Evidence, tc.found)
			}
		})
	}
}

// withEnv adds env to img's config.
func withEnv(t *testing.T, img v1.Image, env ...string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = append(cf.Config.Env, env...)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
