package api

import (
	"compress/gzip"
	"errors"
	"io"

	"connectrpc.com/connect"
)

// MaxMessageBytes bounds one request message, decompressed. The largest
// real messages (a gateway's statistics, sent in batches) stay far below
// it, so no request can make the server hold more than a few of these.
const MaxMessageBytes = 1 << 20

// MaxBodyBytes bounds a request body on the wire: one message with its
// envelope, and the few bytes gzip adds to data it cannot shrink.
const MaxBodyBytes = MaxMessageBytes + 4<<10

// limits are the handler options that bound what a request can make the
// server read: connect refuses a larger message with ResourceExhausted, and
// gzip is decompressed by boundedGzip.
// compressMinBytes is the size from which answers are compressed.
const compressMinBytes = 1024

func limits() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithReadMaxBytes(MaxMessageBytes),
		// A small answer (a challenge, a session's tunnel) fits in one
		// packet either way; compressing it cost more CPU than the rest of
		// its HTTP/2 round trip.
		connect.WithCompressMinBytes(compressMinBytes),
		// Drop connect's own gzip first so the name is offered once.
		connect.WithCompression("gzip", nil, nil),
		connect.WithCompression("gzip",
			func() connect.Decompressor { return &boundedGzip{} },
			func() connect.Compressor { return gzip.NewWriter(io.Discard) }),
	}
}

var errInflatedTooLarge = errors.New("the decompressed message is larger than the server accepts")

// boundedGzip stops decompressing one byte past MaxMessageBytes. Connect
// reads at most that much into memory, but to report the size of a larger
// message it decompresses the rest into io.Discard: for a small gzip of a
// gigabyte of zeros, a second of CPU per request. The error ends that read.
type boundedGzip struct {
	zr   gzip.Reader
	left int64
}

func (d *boundedGzip) Reset(r io.Reader) error {
	d.left = MaxMessageBytes + 1
	return d.zr.Reset(r)
}

func (d *boundedGzip) Read(p []byte) (int, error) {
	if d.left <= 0 {
		return 0, errInflatedTooLarge
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.zr.Read(p)
	d.left -= int64(n)
	return n, err
}

func (d *boundedGzip) Close() error { return d.zr.Close() }
