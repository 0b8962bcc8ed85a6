package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
)

func TestParseCache(t *testing.T) {
	t.Setenv("ACTIONS_CACHE_URL", "https://cache.example/")
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "runner-token")
	t.Setenv("ACTIONS_CACHE_SERVICE_V2", "")
	type attrs = map[string]string
	tests := []struct {
		name string
		to   bool // --cache-to, else --cache-from
		spec string
		want client.CacheOptionsEntry
	}{
		{"bare ref to", true, "reg.example/team/cache:main",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "reg.example/team/cache:main"}}},
		{"bare ref from", false, "reg.example/team/cache:main",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "reg.example/team/cache:main"}}},
		{"registry mode min kept", true, "type=registry,ref=r/c,mode=min,image-manifest=true,oci-mediatypes=true",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "r/c", "mode": "min", "image-manifest": "true", "oci-mediatypes": "true"}}},
		{"local to", true, "type=local,dest=/tmp/cache",
			client.CacheOptionsEntry{Type: "local", Attrs: attrs{"dest": "/tmp/cache"}}},
		{"local from", false, "type=local,src=/tmp/cache",
			client.CacheOptionsEntry{Type: "local", Attrs: attrs{"src": "/tmp/cache"}}},
		{"inline", true, "type=inline",
			client.CacheOptionsEntry{Type: "inline", Attrs: attrs{}}},
		{"gha from the runner's environment", true, "type=gha,scope=main",
			client.CacheOptionsEntry{Type: "gha", Attrs: attrs{"scope": "main", "url": "https://cache.example/", "token": "runner-token"}}},
		{"ignore-error", true, "type=registry,ref=r/c,ignore-error=true",
			client.CacheOptionsEntry{Type: "registry", Attrs: attrs{"ref": "r/c", "ignore-error": "true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := parseCacheFrom
			if tt.to {
				parse = parseCacheTo
			}
			got, err := parse([]string{tt.spec})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]client.CacheOptionsEntry{tt.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCacheUsageErrors(t *testing.T) {
	// Outside a GitHub runner: buildctl's parser reads these when set at all.
	for _, k := range []string{"ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_CACHE_SERVICE_V2"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	ctxDir := t.TempDir()
	tests := []struct {
		name string
		flag string
		spec string
		want string // in the one error line
	}{
		{"unknown type", "--cache-to", "type=zip,dest=x", `unknown type "zip"; want registry, local, inline, gha, s3, azblob`},
		{"inline is no import", "--cache-from", "type=inline", `unknown type "inline"; want registry, local, gha, s3, azblob`},
		{"registry without ref", "--cache-to", "type=registry,mode=max", "type=registry needs ref=REF"},
		{"bad ref", "--cache-from", "type=registry,ref=Reg/Cache:main", "ref=Reg/Cache:main"},
		{"bare bad ref", "--cache-from", "not a ref", `--cache-from "not a ref": invalid cache: ref=not a ref`},
		{"bad mode", "--cache-to", "type=registry,ref=r/c,mode=maximal", "mode=maximal; want mode=min or mode=max"},
		{"inline max", "--cache-to", "type=inline,mode=max", "type=inline stores only mode=min"},
		{"local without dest", "--cache-to", "type=local,src=x", "type=local needs dest=DIR"},
		{"local without src", "--cache-from", "type=local,dest=x", "type=local needs src=DIR"},
		{"bad ignore-error", "--cache-to", "type=registry,ref=r/c,ignore-error=perhaps", "ignore-error=perhaps; want true or false"},
		{"field not key=value", "--cache-to", "type=registry,ref=r/c,max", "invalid value max"},
		{"malformed csv", "--cache-from", `type=registry,"ref=r/c`, `--cache-from "type=registry,\"ref=r/c"`},
		{"gha outside a runner", "--cache-to", "type=gha,scope=main", "requires url parameter"},
		{"gha token not shown", "--cache-from", "type=gha,url=https://cache.example/,token=s3cr3t,mode", "token=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, "build", "python-alpine", "--context", ctxDir, tt.flag, tt.spec)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "imagebuild: "+tt.flag+" ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line naming %s with %q", stderr, tt.flag, tt.want)
			}
			if strings.Contains(stderr, "s3cr3t") {
				t.Errorf("stderr shows the token: %q", stderr)
			}
		})
	}
}
