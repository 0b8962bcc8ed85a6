package recipes

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Distro is what a recipe needs to know of its base's distribution: how to
// install packages, where the downloads are cached, and the shell of an
// account that must not log in.
type Distro struct {
	// Name keys the package and pip caches, with the platform: packages
	// and wheels built on one distribution's libc do not fit another's.
	Name string
	// InstallCommand returns the command that installs packages, keeping
	// its downloads in CacheDir and leaving no package-manager cache or log
	// in the image.
	InstallCommand func(packages []string) []string
	// CacheDir is where InstallCommand keeps its downloads; [Distro.Install]
	// mounts a cache there.
	CacheDir string
	// NoLogin is the shell of accounts that must not log in.
	NoLogin string
	// BuildPackages returns ADR-003's build dependencies (docs/adr-003.md)
	// by this distribution's names: a Python recipe's default Packages.
	BuildPackages func() []string
}

// Alpine is Alpine Linux: apk, whose indexes and packages go to
// /etc/apk/cache when that directory exists. There it is a cache mount, so
// nothing reaches the image, and --update-cache fetches fresh indexes each
// time.
var Alpine = Distro{
	Name: "alpine",
	InstallCommand: func(pkgs []string) []string {
		return append([]string{"apk", "add", "--update-cache"}, pkgs...)
	},
	CacheDir:      "/etc/apk/cache",
	NoLogin:       "/sbin/nologin",
	BuildPackages: AlpineBuildPackages,
}

// Debian is Debian and its derivatives: apt-get without recommends, its
// lists and downloads in a cache folder outside what Debian's images clean.
var Debian = Distro{
	Name: "debian",
	InstallCommand: func(pkgs []string) []string {
		return append([]string{"/bin/sh", "-c", aptInstall, "sh"}, pkgs...)
	},
	CacheDir:      aptCache,
	NoLogin:       "/usr/sbin/nologin",
	BuildPackages: DebianBuildPackages,
}

// Distros returns the distributions imagebuild knows.
func Distros() []Distro { return []Distro{Alpine, Debian} }

// ParseDistro returns the distribution named name.
func ParseDistro(name string) (Distro, error) {
	var names []string
	for _, d := range Distros() {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return Distro{}, fmt.Errorf("distribution %q: want %s (debian for Debian and its derivatives, Ubuntu among them)", name, strings.Join(names, " or "))
}

// aptCache is the cache mount that holds apt's package lists and
// downloaded packages, outside the paths the base's apt configuration
// cleans (Debian's images delete /var/cache/apt/archives/*.deb after every
// install).
const aptCache = "/var/cache/imagebuild-apt"

// aptInstall installs packages without recommends, with apt's lists and
// downloads in aptCache, and removes the logs apt and dpkg leave behind.
const aptInstall = `set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p ` + aptCache + `/lists/partial ` + aptCache + `/archives/partial
aptget() { apt-get -o Dir::State::Lists=` + aptCache + `/lists -o Dir::Cache::Archives=` + aptCache + `/archives "$@"; }
aptget update
aptget install -y --no-install-recommends "$@"
rm -rf /var/log/apt /var/log/dpkg.log /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old`

// CacheMount mounts at dir a BuildKit cache that lasts across builds, one
// per distribution, platform and use (kind, such as "packages" or "pip").
func (d Distro) CacheMount(kind, dir string, p ocispecs.Platform, sharing llb.CacheMountSharingMode) llb.RunOption {
	id := "imagebuild-" + kind + "-" + d.Name + "-" + strings.ReplaceAll(platforms.Format(platforms.Normalize(p)), "/", "-")
	return llb.AddMount(dir, llb.Scratch(), llb.AsPersistentCacheDir(id, sharing))
}

// Install is the step, named name, that installs packages for platform p
// with the distribution's InstallCommand, its downloads in a cache mount.
func (d Distro) Install(name string, packages []string, p ocispecs.Platform) llb.StateOption {
	return func(st llb.State) llb.State {
		return st.Run(
			llb.Args(d.InstallCommand(packages)),
			d.CacheMount("packages", d.CacheDir, p, llb.CacheMountLocked),
			llb.WithCustomName(name),
		).Root()
	}
}

// PackagesLayer is a layer of what installing packages on base adds or
// changes, every file at [FixedTime]: the install, the step named name,
// runs on base, and its difference is copied onto an empty tree (the step
// name + " (layer)"), so the layer does not depend on the day it is built.
// The copy carries no deletions.
func (d Distro) PackagesLayer(name string, base llb.State, packages []string, p ocispecs.Platform) llb.State {
	installed := base.With(d.Install(name, packages, p))
	t := FixedTime()
	return Layer(name+" (layer)", llb.Copy(llb.Diff(base, installed), "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: &t}))
}

// ValidPackage reports whether name is a package name a recipe may hand the
// package manager: not empty, not an option, no whitespace or shell syntax.
func ValidPackage(name string) error {
	if name == "" || strings.HasPrefix(name, "-") || strings.ContainsAny(name, " \t\n;&|$`'\"\\") {
		return fmt.Errorf("%q is not a package name", name)
	}
	return nil
}
