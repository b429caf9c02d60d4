package mediator

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Process-wide parts of an ObjectId, as in MongoDB drivers: 5 random bytes
// fixed per process and a counter starting at a random value, so ids from
// several mediator instances never collide and sort by creation second.
var (
	oidProcess [5]byte
	oidCounter atomic.Uint32
)

func init() {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	copy(oidProcess[:], b[:5])
	oidCounter.Store(binary.BigEndian.Uint32(b[5:]))
}

// NewObjectID returns a new Mongo ObjectId as 24 lower-case hex digits:
// 4 bytes of Unix seconds, 5 process-random bytes, a 3-byte counter. Core
// accepts it as a transaction _id (POST /transactions does not return ids).
func NewObjectID() string {
	return newObjectID(time.Now())
}

func newObjectID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(t.Unix())) //nolint:gosec // G115: an ObjectID holds the Unix time in 32 bits, as MongoDB's does
	copy(b[4:9], oidProcess[:])
	n := oidCounter.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n) //nolint:gosec // G115: the low 24 bits of the counter, as the ObjectID layout says
	return hex.EncodeToString(b[:])
}

// IsObjectID reports whether s is 24 hex digits.
func IsObjectID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
