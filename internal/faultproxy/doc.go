// Package faultproxy is a TCP proxy for tests that puts network faults
// between a client process and a server: added latency, a black hole
// (bytes held, nothing answers, connections stay open, as in a network
// partition) and a cut (connections reset, new ones refused). The chaos
// suite puts one in front of Redis for each gateway replica, so that one
// replica can lose Redis while the others keep it.
package faultproxy
