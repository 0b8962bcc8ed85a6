// Package testenv gives integration tests the real parts they run against:
// a BuildKit daemon (started by scripts/buildkitd.sh when none answers), a
// registry (Debian's docker-registry on a free 127.0.0.1 port), and a test
// base image pushed to that registry and pinned by digest.
//
// The test base is Debian bookworm from debootstrap with python3 and a
// stand-in /sbin/apk that records its arguments in
// /var/lib/apk-standin/calls and installs nothing: Alpine's image and
// mirrors cannot be reached where these tests run, so the python-alpine
// recipe's graph is tested on this base.
//
// For the connections to remote daemons, a test can also start a second
// buildkitd behind mutual TLS on a loopback port, with a CA and certificates
// the test makes ([StartTLSDaemon]), and Debian's sshd on a loopback port
// with keys the test makes and BuildKit's buildctl on the remote PATH
// ([StartSSHD]); both are stopped when the test ends.
//
// BUILDKIT_HOST and IMAGEBUILD_TEST_REGISTRY (host:port) point the tests at
// a daemon and a registry already running instead.
//
// When a part cannot be had, tests skip and say why; where integration tests
// are required (IMAGEBUILD_INTEGRATION set, as `make test` sets it, or CI
// set) they fail instead. Set-up that several test processes share (the
// daemon, the test base trees, Trivy) is made once per machine: the scripts
// that make it take a file lock, and a tree is taken as made only once it is
// complete.
package testenv
