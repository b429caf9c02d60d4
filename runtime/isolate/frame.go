package isolate

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The wire between the mediator and a worker is a stream of frames:
//
//	u32 length of the rest | u8 kind | u32 header length | header (JSON) |
//	u32 blob count | i32 length per blob (-1: nil) | blob bytes…
//
// Headers are small JSON documents; state travels as blobs, the JSON bytes
// the engine already holds, so a state crosses the boundary once, without
// being re-encoded or copied into another JSON document.
const (
	kindHello    = 'H' // worker → mediator: ready
	kindWorkflow = 'W' // mediator → worker: a workflow definition, sent once per worker
	kindRun      = 'R' // mediator → worker: run a workflow; blob 0 is the input state
	kindCancel   = 'C' // mediator → worker: the caller gave up
	kindLog      = 'L' // worker → mediator: one log line, as it happens
	kindExchange = 'X' // worker → mediator: one recorded outbound call, as it happens
	kindDone     = 'D' // worker → mediator: the result; blobs are final state and step outputs
)

// maxFrame bounds what one frame may make the reader allocate. The worker
// keeps its frames below it (state is capped by the body limit, logs and
// step outputs are capped); a bigger length means a broken peer.
const maxFrame = 1<<31 - 1

type frame struct {
	kind  byte
	hdr   []byte
	blobs [][]byte
}

func writeFrame(w *bufio.Writer, kind byte, hdr any, blobs ...[]byte) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	total := 1 + 4 + len(h) + 4 + 4*len(blobs)
	for _, b := range blobs {
		total += len(b)
	}
	if total > maxFrame {
		return fmt.Errorf("frame of %d bytes is larger than %d", total, maxFrame)
	}
	var n [4]byte
	put := func(v uint32) {
		binary.BigEndian.PutUint32(n[:], v)
		_, _ = w.Write(n[:])
	}
	put(uint32(total))
	_ = w.WriteByte(kind)
	put(uint32(len(h))) //nolint:gosec // G115: the frame was checked against maxFrame (512 MiB) above
	_, _ = w.Write(h)
	put(uint32(len(blobs))) //nolint:gosec // G115: the frame was checked against maxFrame (512 MiB) above
	for _, b := range blobs {
		l := int32(len(b)) //nolint:gosec // G115: the frame was checked against maxFrame (512 MiB) above
		if b == nil {
			l = -1
		}
		put(uint32(l))
	}
	for _, b := range blobs {
		_, _ = w.Write(b)
	}
	return w.Flush()
}

var errFrame = errors.New("malformed frame")

// readFrame reads one frame; blobs are slices of one buffer (no copies).
func readFrame(r *bufio.Reader) (frame, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return frame{}, err
	}
	total := binary.BigEndian.Uint32(n[:])
	if total < 9 || total > maxFrame {
		return frame{}, fmt.Errorf("%w: length %d", errFrame, total)
	}
	buf := make([]byte, total)
	if _, err := io.ReadFull(r, buf); err != nil {
		return frame{}, err
	}
	f := frame{kind: buf[0]}
	p := buf[1:]
	next := func() (uint32, bool) {
		if len(p) < 4 {
			return 0, false
		}
		v := binary.BigEndian.Uint32(p)
		p = p[4:]
		return v, true
	}
	hl, ok := next()
	if !ok || int(hl) > len(p) {
		return frame{}, errFrame
	}
	f.hdr, p = p[:hl], p[hl:]
	nb, ok := next()
	if !ok || int(nb)*4 > len(p) {
		return frame{}, errFrame
	}
	lens := make([]int32, nb)
	for i := range lens {
		v, _ := next()
		lens[i] = int32(v) //nolint:gosec // G115: a length above MaxInt32 turns negative and reads as a nil blob; the frame is bounded by maxFrame
	}
	for _, l := range lens {
		if l < 0 {
			f.blobs = append(f.blobs, nil)
			continue
		}
		if int(l) > len(p) {
			return frame{}, errFrame
		}
		f.blobs = append(f.blobs, p[:l:l])
		p = p[l:]
	}
	return f, nil
}
