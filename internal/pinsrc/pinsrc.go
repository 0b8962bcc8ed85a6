// Package pinsrc reads and rewrites the builder.Pin constants of a Go source
// file, such as recipes/pins.go.
package pinsrc

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"strconv"

	"github.com/imagebuild/imagebuild/builder"
)

// Literal is one builder.Pin constant's string literal in a file.
type Literal struct {
	Name  string
	Value builder.Pin
	// start and end are the literal's byte offsets, quotes included.
	start, end int
}

// Read returns the builder.Pin constants declared in src.
func Read(filename string, src []byte) ([]Literal, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, 0)
	if err != nil {
		return nil, err
	}
	var out []Literal
	var bad error
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if sel, ok := vs.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Pin" {
			return true
		}
		for i, v := range vs.Values {
			lit, ok := v.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				bad = fmt.Errorf("%s: pin %s is not a string literal", fset.Position(v.Pos()), vs.Names[i].Name)
				return false
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				bad = err
				return false
			}
			out = append(out, Literal{
				Name:  vs.Names[i].Name,
				Value: builder.Pin(s),
				start: fset.Position(lit.Pos()).Offset,
				end:   fset.Position(lit.End()).Offset,
			})
		}
		return true
	})
	return out, bad
}

// Replace returns src with each pin literal whose value is a key of updates
// rewritten to the value. Only the literals change; the result is checked to
// be gofmt-clean.
func Replace(filename string, src []byte, updates map[builder.Pin]builder.Pin) ([]byte, error) {
	lits, err := Read(filename, src)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	last := 0
	for _, l := range lits {
		to, ok := updates[l.Value]
		if !ok {
			continue
		}
		out.Write(src[last:l.start])
		out.WriteString(strconv.Quote(string(to)))
		last = l.end
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
