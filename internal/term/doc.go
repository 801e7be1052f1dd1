// Package term puts a terminal in cbreak mode (termios(3): no line
// buffering, no echo, signals kept) for a full-screen view that reads
// single keys, and reports its size.
package term
