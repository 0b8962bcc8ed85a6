// Package daemon reaches a BuildKit daemon: [Config] says where it is and
// with what TLS files, [Config.Validate] checks that without dialing, and
// [Connect] makes a client and checks the daemon answers, telling the ways
// a connection fails apart (nothing listening, a TLS handshake refused, a
// daemon that speaks only TLS). [Lost] tells a daemon that went away during
// a build. [DialEngine] reaches a Docker Engine as the docker CLI does
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, Docker contexts with
// their TLS material, ssh://) and refuses plain tcp:// to another machine.
//
//	c, err := daemon.Connect(ctx, daemon.Config{Addr: "tcp://builder:1234", CACert: "ca.pem"})
package daemon
