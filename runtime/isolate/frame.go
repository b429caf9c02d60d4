package isolate

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The wire between the mediator and a worker is a stream of frames:
//
//	u32 length of the rest | u8 kind | u32 header length | header |
//	u32 blob count | i32 length per blob (-1: nil) | blob bytes…
//
// Headers are small: the per-run ones (run, log, exchange, result) in
// codec.go's encoding, the rare ones JSON; state travels as blobs, the JSON bytes
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
	kindNudge    = 'N' // worker → mediator: read the side pipe now, it is filling up
)

// Log and exchange frames go on a third pipe, the side pipe, when the
// system has one (sidePipe): its read end is in no poller, so a worker's
// write there wakes nobody; the mediator reads it before it handles any
// frame of the main pipe (a result, a nudge), every tick of a run and after
// a worker died. A run's log line and exchange cost the worker a write and
// the mediator nothing until the result comes, instead of a wake-up of the
// mediator, which on a busy CPU also preempted the worker mid-run. What a
// worker wrote there before it died is still read: the kernel holds it.

// maxFrame bounds what one frame may make the reader allocate. The worker
// keeps its frames below it (state is capped by the body limit, logs and
// step outputs are capped); a bigger length means a broken peer.
const maxFrame = 1<<31 - 1

// sideReader is the mediator's end of a worker's side pipe (see sidePipe);
// close may come from Pool.Close while a run reads.
type sideReader struct {
	mu     sync.Mutex
	fd     int
	closed bool
}

// maxSideRead bounds one read of the side pipe, so a worker that writes
// as fast as the mediator reads cannot keep it in one read.
const maxSideRead = 8 << 20

// sideShare is the part of the side pipe's capacity a worker fills before
// it nudges the mediator to read (then the mediator reads while the worker
// writes on, and a frame of up to the rest still fits).
const sideShare = 4

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
	return writeFrameHeader(w, kind, h, blobs...)
}

// frameSize is what a frame with header h and no blobs takes on the wire.
func frameSize(h []byte) int { return 4 + 1 + 4 + len(h) + 4 }

// writeFrameHeader writes and flushes a frame whose header is encoded.
func writeFrameHeader(w *bufio.Writer, kind byte, h []byte, blobs ...[]byte) error {
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
	return decodeFrame(buf)
}

// splitFrames decodes the whole frames at the start of buf (the side
// pipe's bytes so far) and returns what is left of the next one.
func splitFrames(buf []byte) (frames []frame, rest []byte, err error) {
	for len(buf) >= 4 {
		total := binary.BigEndian.Uint32(buf)
		if total < 9 || total > maxFrame {
			return frames, nil, fmt.Errorf("%w: length %d", errFrame, total)
		}
		if len(buf)-4 < int(total) {
			break
		}
		f, err := decodeFrame(buf[4 : 4+total])
		if err != nil {
			return frames, nil, err
		}
		frames = append(frames, f)
		buf = buf[4+total:]
	}
	return frames, buf, nil
}

// decodeFrame reads a frame from its bytes after the length; blobs are
// slices of buf.
func decodeFrame(buf []byte) (frame, error) {
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
