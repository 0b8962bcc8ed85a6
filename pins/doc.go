// Package pins keeps base image pins honest: it asks a pin's registry
// whether its tag still points at the pinned digest, finds which images a
// recipe's graph pulls, and reads and rewrites the pin constants a team
// declares in its Go source (`X ref.Pin = "NAME:TAG@sha256:..."`).
//
// The smallest use checks one pin:
//
//	st, err := pins.Check(ctx, recipes.PythonAlpineBase, nil, authn.DefaultKeychain)
//	if err == nil && st.State == pins.Stale {
//		fmt.Println("the tag now points at", st.Current)
//	}
//
// To bump a stale pin where it is declared, find the declarations of the
// module and rewrite the files that declare it:
//
//	root, err := pins.ModuleRoot(".")
//	decls, err := pins.Find(root)
//	var files []string
//	for _, d := range decls {
//		if d.Is(old) {
//			files = append(files, d.File)
//		}
//	}
//	changed, err := pins.Rewrite(files, map[ref.Pin]ref.Pin{old: updated})
//
// `imagebuild pins check` and `imagebuild pins bump` are these steps for
// every pin of the recipes the binary has.
package pins
