// Command testcmd is imagebuild's command line with imagebuild's recipes
// and those the tests and benchmarks build on the Debian test base,
// registered as a team registers its own recipes ([cli.Main]), so that the
// tests and benchmarks run the command as a user does.
package main

import (
	"github.com/imagebuild/imagebuild/cli"
	"github.com/imagebuild/imagebuild/recipes"
)

func main() {
	cli.Main(append(recipes.All(),
		// python-slim's builder stage with a C compiler and the headers of
		// Debian's own Python (python3-dev), which the official python
		// images carry under /usr/local and the Debian test base does not.
		recipes.Named("slim-compile", "python-slim with gcc and Debian's Python headers, for the Debian test base",
			recipes.PythonSlim{Packages: []string{"gcc", "libc6-dev", "python3-dev"}}),
	)...)
}
