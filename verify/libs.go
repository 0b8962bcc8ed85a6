package verify

import (
	"archive/tar"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// loaderPaths are the directories the image's dynamic loader searches
// besides an ELF file's own RPATH and RUNPATH: musl's (its
// /etc/ld-musl-*.path, else /lib, /usr/local/lib, /usr/lib) when the image
// has musl's loader, else glibc's (/etc/ld.so.conf and its includes, then
// the default and multiarch folders).
func loaderPaths(fs fsys) []string {
	musl := false
	for p := range fs {
		if strings.HasPrefix(p, "/lib/ld-musl-") {
			musl = true
		}
	}
	if musl {
		for p, n := range fs {
			if strings.HasPrefix(p, "/etc/ld-musl-") && strings.HasSuffix(p, ".path") {
				return strings.FieldsFunc(string(n.data), func(r rune) bool { return r == ':' || r == '\n' || r == ' ' })
			}
		}
		return []string{"/lib", "/usr/local/lib", "/usr/lib"}
	}
	dirs := ldSoConf(fs, "/etc/ld.so.conf")
	dirs = append(dirs, "/lib", "/usr/lib", "/lib64", "/usr/lib64")
	for p, n := range fs {
		// Multiarch folders: /lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu, ...
		if (path.Dir(p) == "/lib" || path.Dir(p) == "/usr/lib") && strings.HasSuffix(p, "-linux-gnu") && n.typ == tar.TypeDir {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// maxIncludes is the most include lines of the loader's configuration
// that verify follows. Past them, folders are left out: libraries are
// looked for in fewer places, and the check fails rather than passes.
const maxIncludes = 256

// ldSoConf reads a glibc ld.so.conf, following its include lines; each
// file is read once, however many lines include it.
func ldSoConf(fs fsys, file string) []string {
	seen := map[string]bool{}
	var names []string // fs's paths, sorted once
	includes := 0
	var read func(file string) []string
	read = func(file string) []string {
		n, ok := fs[file]
		if !ok || seen[file] {
			return nil
		}
		seen[file] = true
		var dirs []string
		for line := range strings.SplitSeq(string(n.data), "\n") {
			line = strings.TrimSpace(line)
			if i := strings.Index(line, "#"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			if line == "" {
				continue
			}
			if pattern, ok := strings.CutPrefix(line, "include "); ok {
				if includes++; includes > maxIncludes {
					continue
				}
				pattern = strings.TrimSpace(pattern)
				if !path.IsAbs(pattern) {
					pattern = path.Join(path.Dir(file), pattern)
				}
				if names == nil {
					names = slices.Sorted(maps.Keys(fs))
				}
				for _, p := range names {
					if m, _ := path.Match(pattern, p); m {
						dirs = append(dirs, read(p)...)
					}
				}
				continue
			}
			dirs = append(dirs, line)
		}
		return dirs
	}
	return read(file)
}

// libraryPath returns LD_LIBRARY_PATH from the config's environment.
func libraryPath(env []string) []string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LD_LIBRARY_PATH="); ok {
			return strings.Split(v, ":")
		}
	}
	return nil
}

func checkLibraries(fs fsys, dirs []string, env []string) Result {
	res := Result{Check: "shared libraries of the venv and app resolve"}
	system := loaderPaths(fs)
	ldPath := libraryPath(env)
	var missing []string
	files, libs := 0, 0
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		n := fs[p]
		if n.elf == nil || !under(p, dirs) {
			continue
		}
		files++
		origin := path.Dir(p)
		expand := func(ds []string) []string {
			var out []string
			for _, d := range ds {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if d != "" {
					out = append(out, d)
				}
			}
			return out
		}
		// The loader's order: RPATH (only without RUNPATH), LD_LIBRARY_PATH,
		// RUNPATH, then the system's folders.
		var search []string
		if len(n.elf.runpath) == 0 {
			search = append(search, expand(n.elf.rpath)...)
		}
		search = append(search, ldPath...)
		search = append(search, expand(n.elf.runpath)...)
		search = append(search, system...)
		for _, lib := range n.elf.needed {
			libs++
			found, err := fs.findLibrary(lib, search)
			switch {
			case err != nil:
				missing = append(missing, fmt.Sprintf("%s needs %s: %v", p, lib, err))
			case !found:
				missing = append(missing, fmt.Sprintf("%s needs %s, found in none of %s", p, lib, strings.Join(search, ":")))
			}
		}
	}
	if files == 0 {
		// Nothing compiled: the check does not apply, which is not a pass.
		res.Status = Skip
		res.Evidence = []string{fmt.Sprintf("no ELF file under %s: no compiled code to check", strings.Join(dirs, ", "))}
		return res
	}
	return res.findings(missing, fmt.Sprintf("%d ELF files, %d needed libraries, all found", files, libs))
}

// findLibrary tells whether lib is a file in one of the folders search,
// as the loader looks for it; a path that needs too many links to resolve
// is an error, as it is for the loader.
func (fs fsys) findLibrary(lib string, search []string) (bool, error) {
	if strings.Contains(lib, "/") {
		_, n, err := fs.resolve(lib)
		return n != nil && n.typ == tar.TypeReg, err
	}
	for _, d := range search {
		_, n, err := fs.resolve(path.Join(d, lib))
		if err != nil {
			return false, err
		}
		if n != nil && n.typ == tar.TypeReg {
			return true, nil
		}
	}
	return false, nil
}
