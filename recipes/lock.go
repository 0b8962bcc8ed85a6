package recipes

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// LockFile is the lock of a Python recipe's builder stage, at the root of
// the build context: `imagebuild lock` writes it, and a build follows it
// whenever it is there. The requirements file stays the venv's lock; this
// one locks what the builder stage reads to make the venv.
const LockFile = "imagebuild.lock"

// Lock is what [LockFile] holds: for each platform, the builder stage's
// packages as the package manager resolved them and the build requirements
// of every distribution built from source, and the builder image that
// holds them all when one was pushed.
type Lock struct {
	// Recipe is the name of the recipe the lock was made for, on the
	// command line: what `imagebuild pins` locks again.
	Recipe string `json:"recipe,omitempty"`
	// Builder is the builder image `imagebuild lock --push` pushed: the
	// locked builder stage of every platform, as one index. A build from
	// the lock starts its builder stage from it, running no package
	// manager; the zero Pin means there is none.
	Builder ref.Pin `json:"builder,omitempty"`
	// Platforms are the platforms' locks, by platforms.Format.
	Platforms map[string]PlatformLock `json:"platforms"`
}

// PlatformLock is one platform's lock.
type PlatformLock struct {
	// Base is the builder stage's base the lock was made on.
	Base ref.Pin `json:"base"`
	// Distro is the base's distribution.
	Distro string `json:"distro"`
	// Requested are the packages the recipe asks for (its Packages).
	Requested []string `json:"requested"`
	// Packages are what installing them installed, dependencies and all.
	Packages []Package `json:"packages"`
	// Distributions are, by [LockKey], the file each distribution of the
	// venv was locked with and its build requirements.
	Distributions map[string]LockedDistribution `json:"distributions"`
}

// Package is an OS package as the package manager installed it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Checksum is the checksum the package index carries for it: the
	// .deb's SHA-256 (hex) from Debian's Packages index, or the Q1 checksum
	// of Alpine's APKINDEX.
	Checksum string `json:"checksum"`
}

// LockedDistribution is a distribution of the venv as the lock was made.
type LockedDistribution struct {
	// File is the file fetched ("" for a local project, or a distribution
	// whose markers exclude the platform).
	File string `json:"file"`
	// Requires are the build requirements isolation resolved for it, for
	// an sdist or a local project; none for a wheel.
	Requires []PythonFile `json:"requires"`
}

// PythonFile is a file of a Python distribution from the index.
type PythonFile struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
}

// LockKey is the key of the distribution d in a [PlatformLock]'s
// Distributions: its normalised name and version.
func LockKey(d Distribution) string { return d.Key() + "==" + d.Version }

// projectLockKey is the key of the local project at dir (a context path).
func projectLockKey(dir string) string { return "./" + dir }

// ParseLock reads a lock file, checking every field a step takes.
func ParseLock(dt []byte) (*Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(dt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %w", LockFile, err)
	}
	if l.Builder != "" {
		if err := l.Builder.Validate(); err != nil {
			return nil, fmt.Errorf("%s: builder: %w", LockFile, err)
		}
	}
	if len(l.Platforms) == 0 {
		return nil, fmt.Errorf("%s: no platforms", LockFile)
	}
	for p, pl := range l.Platforms {
		if err := pl.validate(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", LockFile, p, err)
		}
	}
	return &l, nil
}

func (pl PlatformLock) validate() error {
	if err := pl.Base.Validate(); err != nil {
		return fmt.Errorf("base: %w", err)
	}
	if _, err := ParseDistro(pl.Distro); err != nil {
		return err
	}
	for _, pkg := range pl.Packages {
		for _, s := range []string{pkg.Name, pkg.Version, pkg.Arch, pkg.Checksum} {
			if err := ValidPackage(s); err != nil {
				return fmt.Errorf("packages: %w", err)
			}
		}
	}
	for k, d := range pl.Distributions {
		for _, f := range d.Requires {
			if !pinnedText.MatchString(f.Name+"=="+f.Version) || strings.ContainsAny(f.File, "/\\ \n") {
				return fmt.Errorf("distributions: %s: %q %q %q is not a distribution's file", k, f.Name, f.Version, f.File)
			}
			if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 {
				return fmt.Errorf("distributions: %s: %s: %q is not a sha256", k, f.File, f.SHA256)
			}
		}
	}
	return nil
}

// Marshal returns the lock file's bytes: indented JSON, keys sorted, so a
// re-lock that finds the same shows no difference.
func (l *Lock) Marshal() ([]byte, error) {
	dt, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(dt, '\n'), nil
}

// readLock reads the context's lock file, nil when it has none.
func readLock(c graph.Context) (*Lock, error) {
	dt, err := c.ReadFile(graph.ContextFile{Path: LockFile})
	switch {
	case err == nil:
	case unreadableHere(err):
		return nil, nil
	default:
		return nil, err
	}
	l, err := ParseLock(dt)
	if err != nil {
		return nil, &graph.FieldError{Field: "Lock", Err: fmt.Errorf("%w; run imagebuild lock to write it again", err)}
	}
	return l, nil
}

// platformLock is the lock of the build of a recipe whose builder stage is
// on b and installs packages, for p: nil without a lock. A lock made for
// another base, packages or distribution, or without p, is refused: it
// would lock another builder stage.
func (l *Lock) platformLock(p ocispecs.Platform, b Base, packages []string) (*PlatformLock, error) {
	if l == nil {
		return nil, nil
	}
	name := platformName(p)
	pl, ok := l.Platforms[name]
	stale := func(format string, a ...any) error {
		return &graph.FieldError{Field: "Lock", Err: fmt.Errorf("%s: %s; run imagebuild lock again", LockFile, fmt.Sprintf(format, a...))}
	}
	switch {
	case !ok:
		return nil, stale("no %s (it locks %s)", name, strings.Join(slices.Sorted(maps.Keys(l.Platforms)), ", "))
	case pl.Base != b.Pin:
		return nil, stale("%s was locked on the base %s, this build's is %s", name, pl.Base, b.Pin)
	case pl.Distro != b.Distro.Name:
		return nil, stale("%s was locked on %s, this build's base runs %s", name, pl.Distro, b.Distro.Name)
	case !slices.Equal(pl.Requested, packages) && !(len(pl.Requested) == 0 && len(packages) == 0):
		return nil, stale("%s was locked for the packages %q, the recipe asks for %q", name, pl.Requested, packages)
	}
	return &pl, nil
}

// platformName is p as a lock names it.
func platformName(p ocispecs.Platform) string { return platforms.Format(platforms.Normalize(p)) }

// distribution returns what the lock records for the distribution keyed
// key (see [LockKey]), or an error saying it records nothing for it.
func (pl *PlatformLock) distribution(key string) (LockedDistribution, error) {
	d, ok := pl.Distributions[key]
	if !ok {
		return d, &graph.FieldError{Field: "Lock", Err: fmt.Errorf("%s records nothing for %s: the requirements changed since it was made; run imagebuild lock again", LockFile, key)}
	}
	return d, nil
}

// The files a lock graph (see [Locker]) writes: the packages installed,
// one a line (name, version, architecture, checksum, tab-separated), and
// a file for each distribution and local project.
const (
	packagesRecord = "/packages.tsv"
	distsRecord    = "/distributions"
)

// ReadLockRecords makes a platform's lock from the files the lock graph
// wrote (by path, as [Locker.LockImage]'s Root holds them), for a builder
// stage on b that installs packages.
func ReadLockRecords(files map[string][]byte, b Base, packages []string) (PlatformLock, error) {
	pl := PlatformLock{Base: b.Pin, Distro: b.Distro.Name, Requested: slices.Clone(packages), Distributions: map[string]LockedDistribution{}}
	if pl.Requested == nil {
		pl.Requested = []string{}
	}
	pl.Packages = []Package{}
	sc := bufio.NewScanner(bytes.NewReader(files[packagesRecord]))
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			return pl, fmt.Errorf("the packages record: %q is not name, version, architecture and checksum", sc.Text())
		}
		pl.Packages = append(pl.Packages, Package{Name: f[0], Version: f[1], Arch: f[2], Checksum: f[3]})
	}
	slices.SortFunc(pl.Packages, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	for path, dt := range files {
		if !strings.HasPrefix(path, distsRecord+"/") {
			continue
		}
		var rec struct {
			Key string `json:"key"`
			LockedDistribution
		}
		if err := json.Unmarshal(dt, &rec); err != nil {
			return pl, fmt.Errorf("the record %s: %w", path, err)
		}
		if rec.Key == "" {
			return pl, fmt.Errorf("the record %s names no distribution", path)
		}
		d := rec.LockedDistribution
		if d.Requires == nil {
			d.Requires = []PythonFile{}
		}
		pl.Distributions[rec.Key] = d
	}
	if err := pl.validate(); err != nil {
		return pl, err
	}
	return pl, nil
}

// Locker is a recipe whose builder stage `imagebuild lock` locks (the
// Python recipes are).
type Locker interface {
	// LockImage returns the graph that records, for in.Platform, what the
	// builder stage installs: its Root holds the files
	// [ReadLockRecords] reads; nothing is compiled. Its Base is the
	// builder stage's, which [Locker.LockBase] also returns with the
	// packages the recipe asks for.
	LockImage(in Inputs) (graph.Image, error)
	// LockBase returns the builder stage's base for in and the packages
	// the recipe asks for: what [ReadLockRecords] records beside the
	// files.
	LockBase(in Inputs) (Base, []string)
	// BuilderImage returns the builder stage that pl locks, for
	// in.Platform, as an image to push: the base, the locked packages,
	// the venvs and a wheelhouse of every locked build requirement.
	BuilderImage(in Inputs, pl PlatformLock) (graph.Image, error)
}

// ErrNoLock is a recipe that has no builder stage to lock.
var ErrNoLock = errors.New("the recipe has no builder stage to lock (imagebuild's Python recipes have)")

// AsLocker returns r as a [Locker], looking through [Named].
func AsLocker(r Recipe) (Locker, error) {
	if n, ok := r.(named); ok {
		r = n.Recipe
	}
	if l, ok := r.(Locker); ok {
		return l, nil
	}
	return nil, ErrNoLock
}

// Changes lists, a line each, what differs in newer, a lock made later of
// the same recipe: packages and build requirements added, removed or at
// another version or checksum, and platforms gained or lost. None: the
// mirror and the index serve what l locks.
func (l *Lock) Changes(newer *Lock) []string {
	var out []string
	names := slices.Sorted(maps.Keys(l.Platforms))
	for _, p := range slices.Sorted(maps.Keys(newer.Platforms)) {
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	for _, p := range names {
		old, okOld := l.Platforms[p]
		cur, okNew := newer.Platforms[p]
		switch {
		case !okNew:
			out = append(out, p+": no longer locked")
			continue
		case !okOld:
			out = append(out, p+": newly locked")
			continue
		}
		if old.Base != cur.Base {
			out = append(out, fmt.Sprintf("%s: base %s -> %s", p, old.Base, cur.Base))
		}
		oldPkgs, curPkgs := map[string]Package{}, map[string]Package{}
		for _, pkg := range old.Packages {
			oldPkgs[pkg.Name+":"+pkg.Arch] = pkg
		}
		for _, pkg := range cur.Packages {
			curPkgs[pkg.Name+":"+pkg.Arch] = pkg
		}
		out = append(out, changed(p+": package ", oldPkgs, curPkgs, func(a Package) string { return a.Version + " (" + a.Checksum[:min(12, len(a.Checksum))] + ")" })...)
		for _, key := range slices.Sorted(maps.Keys(cur.Distributions)) {
			oldReqs, curReqs := map[string]PythonFile{}, map[string]PythonFile{}
			for _, f := range old.Distributions[key].Requires {
				oldReqs[normalName(f.Name)] = f
			}
			for _, f := range cur.Distributions[key].Requires {
				curReqs[normalName(f.Name)] = f
			}
			out = append(out, changed(fmt.Sprintf("%s: build requirement of %s: ", p, key), oldReqs, curReqs, func(f PythonFile) string { return f.Version + " (" + f.File + ")" })...)
		}
	}
	return out
}

// changed lists the entries of cur that are new or differ from old's, and
// those of old that cur lacks, each as prefix + "NAME OLD -> NEW".
func changed[V comparable](prefix string, old, cur map[string]V, show func(V) string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		o, ok := old[k]
		switch {
		case !ok:
			out = append(out, prefix+k+" added, "+show(cur[k]))
		case o != cur[k]:
			out = append(out, prefix+k+" "+show(o)+" -> "+show(cur[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[k]; !ok {
			out = append(out, prefix+k+" removed")
		}
	}
	return out
}

func normalName(name string) string { return Distribution{Name: name}.Key() }
