// Package graph describes an image and runs nothing: the image model
// ([Image]: a filesystem graph for one platform, its base pin and the
// [Config] it sets on the base's), the build context it reads ([Context],
// [LoadContext]), the part of a graph a step's output makes
// ([Expansion]), the errors a recipe's fields give ([FieldError],
// [ContextFileError]), and what is read from a marshalled graph, decoded
// once ([Decode]): the image references it pulls, the secrets its steps
// mount, the history its layers get.
//
// Recipes import it, and it imports BuildKit's client/llb and the OCI
// image types, not the BuildKit client: a module of recipes links about
// what client/llb links. Package builder runs what it describes.
package graph
