package adaptors

import "github.com/jobmediator/jobmediator/adaptors/recorder"

// A declarative job is one call of one operation whose arguments are
// literals and references to state (`post('/records', $.data)`): nothing
// in it can loop or allocate beyond what its state and the response hold.
// The runtime runs such a job without a VM when the adaptor gives the
// operation a Native form (see runtime/native.go): a routed forward then
// costs about what the HTTP exchange itself costs, and — its memory being
// bounded by construction — it needs no worker process either.

// NativeArg is one evaluated argument of a declarative call.
type NativeArg struct {
	// Kind says which of the fields holds the value.
	Kind NativeKind
	Str  string // NativeString: the string's value
	JSON []byte // NativeJSON: the value as JSON.stringify writes it (not a string)
}

// NativeKind is what an argument evaluated to.
type NativeKind uint8

const (
	NativeUndefined NativeKind = iota // missing, or undefined in state
	NativeNull
	NativeString
	NativeJSON // a number, boolean, object or array
)

// NativeCall is what a Native operation gets: its arguments and the
// step's configuration (credential over the job's inline values) as Go
// values, and the run (context, recording client, log).
type NativeCall struct {
	Run  *Run
	Conf map[string]any
	Args []NativeArg
}

// NativeResult is what a Native operation did.
type NativeResult struct {
	// Declined: the operation cannot promise the VM's result for these
	// arguments and sent nothing; the step runs in the VM as usual.
	Declined bool
	// Replay, when set, is the outcome of the request the operation did
	// send, for a result it leaves to the VM (an error status, a transport
	// error, a body it cannot read as the VM would): the step runs in the
	// VM with its client answering this instead of sending again.
	Replay *recorder.Replay
	// Data is the next state's data (composeNextState(state, data)): JSON
	// as JSON.stringify writes it; nil for undefined.
	Data []byte
	// Lead are the keys ("references", "data") the adaptor's execute puts
	// first in the state its operations get, in order, where missing as []
	// and null: language-http's Object.assign({references: [], data: null},
	// state).
	Lead []string
}

// NativeOp runs one operation of a declarative job.
type NativeOp func(call *NativeCall) NativeResult
