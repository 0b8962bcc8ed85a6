package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/containerd/log"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/spf13/pflag"
)

// Main runs imagebuild's command line on os.Args with the recipes rs, and
// exits: the whole of a main package that builds its own recipes.
// Interrupts and SIGTERM cancel the build.
func Main(rs ...recipes.Recipe) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, rs...)
	stop()
	os.Exit(code)
}

// Run runs imagebuild's command line on args (the program's name left out)
// with the recipes rs, and returns its exit code: 0 on success, 1 when the
// command fails, 2 for a usage error, reported in one line on stderr. Every
// recipe needs a name of its own; [recipes.Named] renames one.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, rs ...recipes.Recipe) int {
	// containerd's content store, which writes OCI layout outputs, logs a
	// warning on every filesystem without fs-verity; imagebuild reports
	// what goes wrong itself, in one line.
	_ = log.SetLevel("error")
	a, err := newApp(rs)
	if err == nil {
		err = a.run(ctx, args, stdout, stderr)
	}
	return exitCode(err, stderr)
}

// app is the command line with its recipes.
type app struct {
	recipes []recipes.Recipe
}

func newApp(rs []recipes.Recipe) (*app, error) {
	seen := map[string]bool{}
	for _, r := range rs {
		if r == nil || r.Name() == "" {
			return nil, usagef("recipes: a recipe without a name; give it one with recipes.Named")
		}
		if seen[r.Name()] {
			return nil, usagef("recipes: two recipes are named %q; give one another name with recipes.Named", r.Name())
		}
		seen[r.Name()] = true
	}
	return &app{recipes: rs}, nil
}

// lookup returns the recipe named name.
func (a *app) lookup(name string) (recipes.Recipe, error) {
	var names []string
	for _, r := range a.recipes {
		if r.Name() == name {
			return r, nil
		}
		names = append(names, r.Name())
	}
	return nil, usagef("unknown recipe %q; `imagebuild recipes` lists them: %s", name, strings.Join(names, ", "))
}

// exitCode reports err on stderr in one line and returns the exit code:
// 0 for none, 2 for a usage error (the command's, a plan the library
// refused, a recipe's field), 1 for any other failure. It is the one place
// that maps errors to exit codes.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "imagebuild: %s\n", oneLine(err.Error()))
	var (
		ue usageError
		pe *builder.PlanError
		fe *graph.FieldError
	)
	if errors.As(err, &ue) || errors.As(err, &pe) || errors.As(err, &fe) {
		return 2
	}
	return 1
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// usageError is a mistake in how imagebuild was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// usage is imagebuild's help; ADR-003 is summarised in docs/adr-003.md.
const usage = `Usage: imagebuild COMMAND [ARGS]

Builds container images from typed Go recipes on a BuildKit daemon.

Commands:
  build RECIPE     build a recipe and export the image
  lock RECIPE      lock what the recipe's builder stage reads (packages, build requirements) into the context's imagebuild.lock
  llb RECIPE       write the recipe's LLB definition to stdout (no daemon, no network)
  verify TARGET    check ADR-003's promises on a built image (tarball, OCI layout or registry ref)
  push LAYOUT REF  push the image of an OCI layout directory as it is; prints its digest
  recipes          list the recipes
  pins check|bump  check the recipes' base image pins against their registries, or bump stale ones
  version          print imagebuild's version and the BuildKit client version

Run 'imagebuild COMMAND --help' for a command's flags.
`

func (a *app) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command; run 'imagebuild --help' for the commands")
	}
	switch args[0] {
	case "build":
		return a.runBuild(ctx, args[1:], stdout, stderr)
	case "llb":
		return a.runLLB(ctx, args[1:], stdout, stderr)
	case "lock":
		return a.runLock(ctx, args[1:], stdout, stderr)
	case "recipes":
		return a.runRecipes(args[1:], stdout)
	case "pins":
		return a.runPins(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], stdout)
	case "push":
		return runPush(ctx, args[1:], stdout, stderr)
	case "version":
		return runVersion(args[1:], stdout)
	case "-h", "--help", "help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return usagef("unknown command %q; run 'imagebuild --help' for the commands", args[0])
	}
}

// parseFlags parses args with fs, printing help to stdout for --help, and
// returns the positional arguments. want is how many there must be.
func parseFlags(fs *pflag.FlagSet, args []string, stdout io.Writer, synopsis string, want int) ([]string, bool, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: imagebuild %s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
			return nil, true, nil
		}
		return nil, false, usagef("%s: %v", fs.Name(), err)
	}
	// The error names the argument that is missing or one too many, with
	// the synopsis's first line, whose words after the command's own name
	// name the arguments.
	line, _, _ := strings.Cut(synopsis, "\n")
	switch n := fs.NArg(); {
	case n > want:
		return nil, false, usagef("%s: unexpected argument %q; usage: imagebuild %s", fs.Name(), fs.Arg(want), line)
	case n < want:
		names := strings.Fields(line)[len(strings.Fields(fs.Name())):]
		return nil, false, usagef("%s: %s missing; usage: imagebuild %s", fs.Name(), strings.Join(names[n:want], " and "), line)
	}
	return fs.Args(), false, nil
}
