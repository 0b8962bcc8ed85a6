// Package cache is how a build uses BuildKit's cache backends: the cache
// exports and imports a build may name, checked as BuildKit reads them
// ([ValidateExport], [ValidateImport]), translated into what the daemon
// is asked for ([Exports], [Imports], [BuildImports]), and an import with
// nothing to import reported as one warning ([ReportImports]).
package cache
