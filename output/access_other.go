//go:build !unix

package output

// canWrite reports whether this process may create files in dir. Where
// there is no access(2) (Windows), a folder's ACLs are not read ahead:
// writing there fails as it is made, and the output is then not written.
func canWrite(dir string) bool { return true }
