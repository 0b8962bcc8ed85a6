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
	// RecordCommand returns the command that installs packages as
	// InstallCommand does and writes to the file record what the install
	// added or changed: a line for each package, its name, version,
	// architecture and the checksum its index carries, tab-separated (see
	// [Package]). `imagebuild lock` runs it.
	RecordCommand func(packages []string, record string) []string
	// LockedCommand returns the command that installs exactly the
	// packages of a lock, each checked against its checksum. A package the
	// mirror no longer serves, or serves with another checksum, and one
	// the install adds that the lock does not record, end it with one line
	// that starts "imagebuild: error: " and names the package.
	LockedCommand func(locked []Package) []string
	// crossPackages returns the packages that build for another machine
	// what packages build natively, on a builder stage of this machine
	// (see crossFor); nil where the distribution has no cross toolchain.
	crossPackages func(packages []string, t crossTarget) []string
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
	RecordCommand: func(pkgs []string, record string) []string {
		return append([]string{"/bin/sh", "-c", apkRecord, "sh", record}, pkgs...)
	},
	LockedCommand: func(locked []Package) []string {
		return []string{"/bin/sh", "-c", apkLocked, "sh", packageLines(locked)}
	},
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
	RecordCommand: func(pkgs []string, record string) []string {
		return append([]string{"/bin/sh", "-c", aptRecord, "sh", record}, pkgs...)
	},
	LockedCommand: func(locked []Package) []string {
		return []string{"/bin/sh", "-c", aptLocked, "sh", packageLines(locked)}
	},
	crossPackages: debianCrossPackages,
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

// aptPrelude sets apt up as every apt step runs it: no questions, its
// lists and downloads in aptCache (aptget).
const aptPrelude = `set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p ` + aptCache + `/lists/partial ` + aptCache + `/archives/partial
aptget() { apt-get -o Dir::State::Lists=` + aptCache + `/lists -o Dir::Cache::Archives=` + aptCache + `/archives "$@"; }
`

// aptLockTools are the lock's steps' own: aptcache, and installed listing
// the packages dpkg has installed, one a line (name, version,
// architecture, tab-separated), sorted.
const aptLockTools = `aptcache() { apt-cache -o Dir::State::Lists=` + aptCache + `/lists "$@"; }
installed() { dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' | awk -F '\t' '$1 ~ /^ii/ { print $2 "\t" $3 "\t" $4 }' | LC_ALL=C sort; }
tab=$(printf '\t')
`

// aptCleanup removes the logs apt and dpkg leave behind.
const aptCleanup = `rm -rf /var/log/apt /var/log/dpkg.log /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old`

// aptInstall installs packages without recommends, with apt's lists and
// downloads in aptCache, and removes the logs apt and dpkg leave behind.
const aptInstall = aptPrelude + `aptget update
aptget install -y --no-install-recommends "$@"
` + aptCleanup

// aptRecord is aptInstall that writes to $1 what the install added or
// changed, each with the SHA-256 Debian's Packages index gives its .deb.
const aptRecord = aptPrelude + aptLockTools + `record=$1
shift
aptget update
installed >/tmp/imagebuild-before
aptget install -y --no-install-recommends "$@"
installed >/tmp/imagebuild-after
mkdir -p "$(dirname "$record")"
LC_ALL=C comm -13 /tmp/imagebuild-before /tmp/imagebuild-after | while IFS="$tab" read -r name version arch; do
	sum=$(aptcache show "$name=$version" | sed -n 's/^SHA256: //p' | head -n 1)
	if [ -z "$sum" ]; then
		echo "imagebuild: error: apt-cache gives no SHA256 for $name $version: it was not installed from the mirror"
		exit 1
	fi
	printf '%s\t%s\t%s\t%s\n' "$name" "$version" "$arch" "$sum"
done >"$record"
rm -f /tmp/imagebuild-before /tmp/imagebuild-after
` + aptCleanup

// aptLocked installs the packages $1 lists (name, version, architecture
// and SHA-256, tab-separated, a line each) at their versions, after
// checking that the mirror serves each with its SHA-256 (apt then checks
// each download against the index); and then that the install added or
// changed nothing else.
const aptLocked = aptPrelude + aptLockTools + `printf '%s\n' "$1" >/tmp/imagebuild-locked
aptget update
while IFS="$tab" read -r name version arch sum; do
	got=$(aptcache show "$name=$version" 2>/dev/null | sed -n 's/^SHA256: //p' | head -n 1) || true
	if [ -z "$got" ]; then
		echo "imagebuild: error: the mirror no longer serves $name $version ($arch), which ` + LockFile + ` records; serve it again (a snapshot mirror), build from a builder image (imagebuild lock --push), or run imagebuild lock again"
		exit 1
	fi
	if [ "$got" != "$sum" ]; then
		echo "imagebuild: error: the mirror serves $name $version ($arch) with SHA-256 $got, not the $sum ` + LockFile + ` records"
		exit 1
	fi
done </tmp/imagebuild-locked
installed >/tmp/imagebuild-before
aptget install -y --no-install-recommends --allow-downgrades $(awk -F '\t' '{ print $1 "=" $2 }' /tmp/imagebuild-locked)
installed >/tmp/imagebuild-after
cut -f 1-3 /tmp/imagebuild-locked | LC_ALL=C sort >/tmp/imagebuild-want
extra=$(LC_ALL=C comm -13 /tmp/imagebuild-before /tmp/imagebuild-after | LC_ALL=C comm -23 - /tmp/imagebuild-want | tr '\t\n' ' ,')
if [ -n "$extra" ]; then
	echo "imagebuild: error: apt-get installed $extra which ` + LockFile + ` does not record; run imagebuild lock again"
	exit 1
fi
rm -f /tmp/imagebuild-before /tmp/imagebuild-after /tmp/imagebuild-want /tmp/imagebuild-locked
` + aptCleanup

// apkInstalled lists the packages apk has installed, one a line (name,
// version, architecture and checksum, tab-separated), sorted, from its
// database.
const apkInstalled = `set -eu
installed() { awk '/^P:/ { p = substr($0, 3) } /^V:/ { v = substr($0, 3) } /^A:/ { a = substr($0, 3) } /^C:/ { c = substr($0, 3) } /^$/ { if (p != "") print p "\t" v "\t" a "\t" c; p = "" } END { if (p != "") print p "\t" v "\t" a "\t" c }' /lib/apk/db/installed 2>/dev/null | LC_ALL=C sort; }
`

// apkRecord installs packages as apk's InstallCommand does and writes to
// $1 what the install added or changed, with the checksum APKINDEX gives
// each (apk's database keeps it).
const apkRecord = apkInstalled + `record=$1
shift
installed >/tmp/imagebuild-before
apk add --update-cache "$@"
installed >/tmp/imagebuild-after
mkdir -p "$(dirname "$record")"
LC_ALL=C comm -13 /tmp/imagebuild-before /tmp/imagebuild-after >"$record"
rm -f /tmp/imagebuild-before /tmp/imagebuild-after`

// apkLocked installs the packages $1 lists at their versions and checks
// that apk installed each with its checksum, and nothing else; when apk
// cannot, it names the first package the mirror no longer serves (apk add
// --simulate of each).
const apkLocked = apkInstalled + `printf '%s\n' "$1" | LC_ALL=C sort >/tmp/imagebuild-locked
installed >/tmp/imagebuild-before
if ! apk add --update-cache $(awk -F '\t' '{ print $1 "=" $2 }' /tmp/imagebuild-locked); then
	while IFS="$(printf '\t')" read -r name version arch sum; do
		if ! apk add --simulate "$name=$version" >/dev/null 2>&1; then
			echo "imagebuild: error: the mirror no longer serves $name $version ($arch), which ` + LockFile + ` records; build from a builder image (imagebuild lock --push), or run imagebuild lock again"
			exit 1
		fi
	done </tmp/imagebuild-locked
	echo "imagebuild: error: apk could not install the versions ` + LockFile + ` records (its error is above); run imagebuild lock again"
	exit 1
fi
installed >/tmp/imagebuild-after
LC_ALL=C comm -13 /tmp/imagebuild-before /tmp/imagebuild-after >/tmp/imagebuild-added
wrong=$(LC_ALL=C comm -23 /tmp/imagebuild-added /tmp/imagebuild-locked | awk -F '\t' '{ printf "%s%s %s (%s) with checksum %s", sep, $1, $2, $3, $4; sep = ", " }')
if [ -n "$wrong" ]; then
	echo "imagebuild: error: apk installed $wrong, which ` + LockFile + ` does not record; run imagebuild lock again"
	exit 1
fi
rm -f /tmp/imagebuild-before /tmp/imagebuild-after /tmp/imagebuild-added /tmp/imagebuild-locked`

// packageLines is locked as LockedCommand's scripts read it: a line a
// package, name, version, architecture and checksum, tab-separated.
func packageLines(locked []Package) string {
	var b strings.Builder
	for _, p := range locked {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Arch, p.Checksum)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// CacheMount mounts at dir a BuildKit cache that lasts across builds, one
// per distribution, platform and use (kind, such as "packages" or "pip").
func (d Distro) CacheMount(kind, dir string, p ocispecs.Platform, sharing llb.CacheMountSharingMode) llb.RunOption {
	id := "imagebuild-" + kind + "-" + d.Name + "-" + strings.ReplaceAll(platforms.Format(platforms.Normalize(p)), "/", "-")
	return llb.AddMount(dir, llb.Scratch(), llb.AsPersistentCacheDir(id, sharing))
}

// Install is the step, named name, that installs packages for platform p
// with the distribution's InstallCommand, its downloads in a cache mount.
func (d Distro) Install(name string, packages []string, p ocispecs.Platform) llb.StateOption {
	return d.run(name, d.InstallCommand(packages), p)
}

// InstallLocked is [Distro.Install] of exactly the locked packages, with
// its LockedCommand.
func (d Distro) InstallLocked(name string, locked []Package, p ocispecs.Platform) llb.StateOption {
	return d.run(name, d.LockedCommand(locked), p)
}

func (d Distro) run(name string, args []string, p ocispecs.Platform) llb.StateOption {
	return func(st llb.State) llb.State {
		return st.Run(
			llb.Args(args),
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
