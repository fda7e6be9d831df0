package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// A tiny RESP2 client. It exists so that this harness does not depend on the
// Redis client library whose behaviour the tests are meant to check.

// ReplyError is an error reply from the server ("-ERR ...", "-MOVED 42 ...",
// "-NOPERM ..."): the command reached Redis and Redis refused it. Do and Exec
// return it as a value, not as a transport failure.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// maxLen bounds a length prefix so that garbage on the wire (a TLS alert read
// as RESP, say) becomes an error instead of a huge allocation.
const maxLen = 64 << 20

type conn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func newConn(c net.Conn) *conn {
	return &conn{Conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
}

// do sends one command and reads one reply: string (simple or bulk), int64,
// []any, nil, or ReplyError. The error is for transport and protocol
// failures only.
func (c *conn) do(args ...string) (any, error) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return readReply(c.r)
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("redistest: malformed reply line %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return ReplyError(rest), nil
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '$':
		n, err := parseLen(rest)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, errors.New("redistest: bulk string not terminated by CRLF")
		}
		return string(buf[:n]), nil
	case '*':
		n, err := parseLen(rest)
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("redistest: unknown reply type %q (is this a Redis server speaking RESP2?)", kind)
}

// parseLen parses a bulk or array length; -1 stands for nil.
func parseLen(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > maxLen {
		return 0, fmt.Errorf("redistest: bad length %q in reply", s)
	}
	return n, nil
}

// withDeadline makes c obey ctx: its deadline becomes the connection's, and
// cancelling ctx interrupts a blocked read. The returned stop must be called.
func withDeadline(ctx context.Context, c net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}
