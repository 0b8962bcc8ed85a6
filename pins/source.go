package pins

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/ref"
)

// Decl is one pin constant declared in Go source, written
// `X ref.Pin = "NAME:TAG@sha256:..."` (with any package qualifier).
type Decl struct {
	// File is the file that declares it, as it was given.
	File string
	// Line is the line of its string literal.
	Line int
	// Name is the constant's name.
	Name string
	// Value is the pin as written.
	Value ref.Pin
	// start and end are the literal's byte offsets, quotes included.
	start, end int
}

// Is reports whether d declares pin: its value, normalized as
// [ref.ParsePin] does, is pin.
func (d Decl) Is(pin ref.Pin) bool {
	p, err := ref.ParsePin(string(d.Value))
	return err == nil && p == pin
}

// Read returns the pin constants declared in src, the content of the Go
// file filename. A pin constant whose value is not a string literal is an
// error: it cannot be rewritten.
func Read(filename string, src []byte) ([]Decl, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []Decl
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if sel, ok := vs.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Pin" {
				continue
			}
			for i, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return nil, fmt.Errorf("%s: pin %s is not a string literal", fset.Position(v.Pos()), vs.Names[i].Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", fset.Position(v.Pos()), err)
				}
				out = append(out, Decl{
					File:  filename,
					Line:  fset.Position(lit.Pos()).Line,
					Name:  vs.Names[i].Name,
					Value: ref.Pin(s),
					start: fset.Position(lit.Pos()).Offset,
					end:   fset.Position(lit.End()).Offset,
				})
			}
		}
	}
	return out, nil
}

// Replace returns src with each pin literal that declares a key of updates
// (see [Decl.Is]) given the digest of that key's value. Only the digests
// change, so a pin written short (python:3.12-alpine@sha256:...) stays
// short; the result is checked to be gofmt-clean.
func Replace(filename string, src []byte, updates map[ref.Pin]ref.Pin) ([]byte, error) {
	decls, err := Read(filename, src)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	last := 0
	for _, d := range decls {
		from, to, ok := update(d, updates)
		if !ok {
			continue
		}
		out.Write(src[last:d.start])
		out.WriteString(strconv.Quote(strings.Replace(string(d.Value), from.Digest().String(), to.Digest().String(), 1)))
		last = d.end
	}
	out.Write(src[last:])
	formatted, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s after rewriting: %w", filename, err)
	}
	if !bytes.Equal(formatted, out.Bytes()) {
		return nil, fmt.Errorf("%s after rewriting is not gofmt-clean", filename)
	}
	return out.Bytes(), nil
}

// update returns the update of updates that d declares.
func update(d Decl, updates map[ref.Pin]ref.Pin) (from, to ref.Pin, ok bool) {
	for from, to := range updates {
		if d.Is(from) {
			return from, to, true
		}
	}
	return "", "", false
}

// ModuleRoot returns the directory of the Go module that contains dir: the
// first directory, from dir upward, that holds a go.mod.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above", dir)
		}
	}
}

// Find returns the pin constants declared in the Go files of the module
// whose root is root, as [Read] reads them. It leaves out what the go
// command leaves out of the module: testdata and vendor folders, folders
// whose name starts with . or _, and nested modules.
func Find(root string) ([]Decl, error) {
	var out []Decl
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(src, []byte("Pin")) {
			return nil
		}
		decls, err := Read(path, src)
		if err != nil {
			return err
		}
		out = append(out, decls...)
		return nil
	})
	return out, err
}

// Rewrite rewrites the pins of updates in files, as [Replace] does, and
// returns the files it changed, sorted. Every file appears whole or not at all:
// each new content is first written beside its file, and the files are
// replaced only when all are written.
func Rewrite(files []string, updates map[ref.Pin]ref.Pin) ([]string, error) {
	var s stage.Set
	defer s.Discard()
	for _, file := range slices.Compact(slices.Sorted(slices.Values(files))) {
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		out, err := Replace(file, src, updates)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(out, src) {
			continue
		}
		fi, err := os.Stat(file)
		if err != nil {
			return nil, err
		}
		if err := s.Bytes(file, out, fi.Mode().Perm()); err != nil {
			return nil, err
		}
	}
	err := s.Commit()
	return s.Committed(), err
}

// Bump is what [BumpStale] did with one pin.
type Bump struct {
	Status
	// To is the pin a stale one is bumped to: its tag at the digest the
	// tag now points at.
	To ref.Pin
	// Files are the files the pin was rewritten in; none for a stale pin
	// no declaration holds.
	Files []string
}

// BumpStale rewrites each pin of sts that is [Stale] to the digest its tag
// now points at, in the files of decls that declare it ([Rewrite]: every
// file whole or not at all), and returns what it did with each pin of sts,
// in order. A stale pin no declaration holds is returned with no Files.
// On an error, the files changed before it are those of the Bumps returned.
func BumpStale(sts []Status, decls []Decl) ([]Bump, error) {
	bumps := make([]Bump, len(sts))
	updates := map[ref.Pin]ref.Pin{}
	var files []string
	for i, st := range sts {
		bumps[i] = Bump{Status: st}
		if st.State != Stale {
			continue
		}
		to, err := ref.ParsePin(st.Pin.Tagged() + "@" + st.Current)
		if err != nil {
			return nil, err
		}
		bumps[i].To = to
		for _, d := range decls {
			if d.Is(st.Pin) && !slices.Contains(bumps[i].Files, d.File) {
				bumps[i].Files = append(bumps[i].Files, d.File)
			}
		}
		if len(bumps[i].Files) > 0 {
			updates[st.Pin] = to
			files = append(files, bumps[i].Files...)
		}
	}
	if len(updates) == 0 {
		return bumps, nil
	}
	changed, err := Rewrite(files, updates)
	if err != nil {
		for i := range bumps {
			bumps[i].Files = slices.DeleteFunc(bumps[i].Files, func(f string) bool { return !slices.Contains(changed, f) })
		}
		return bumps, fmt.Errorf("bump pins: %w", err)
	}
	return bumps, nil
}
