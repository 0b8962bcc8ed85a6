// Package recipes holds imagebuild's typed image recipes.
//
// A recipe is data, documented fields with safe zero values, plus one pure
// method that returns the image's graph for one platform: no I/O, no
// globals, no registration. [All] returns the set; [Lookup] finds one by
// name. Base images are pinned by digest in pins.go.
package recipes
