// Package bench measures imagebuild's end-to-end builds on a real buildkitd:
// cold (the daemon's cache pruned before each build) and warm (everything
// cached), and reports the image's size. Run with
//
//	go test ./bench -run '^$' -bench . -benchtime 3x
//
// It uses internal/testenv's daemon, registry and Debian test base.
package bench
