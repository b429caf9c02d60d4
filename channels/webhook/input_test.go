package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/workflow"
)

// inputDoc is the input state as encoding/json encoded it before
// appendInputState.
type inputDoc struct {
	Data    any            `json:"data"`
	OpenHIM map[string]any `json:"openhim"`
	Request requestDoc     `json:"request"`
}

// TestInputStateEncoding holds appendInputState to the bytes encoding/json
// writes for the same document without HTML escaping (how input states
// were encoded before it).
func TestInputStateEncoding(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 120000000, time.UTC)
	txs := []mediator.TxContext{
		{},
		{TransactionID: "6a1b2c3d4e5f60718293a4b5", ClientID: "c<1>", ChannelID: "ch&1", LastRunAt: "Mon May 06 2024", LastRunAtTime: &at},
		{TransactionID: "t", ParentID: "p", TaskID: "k"},
	}
	var decoded any
	dec := json.NewDecoder(bytes.NewReader([]byte(`{"n":1.50,"a":[1,"x",null,{"b":true}],"s":"<\u2028>"}`)))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	datas := []any{
		json.RawMessage(`{"resourceType":"Patient","name":[{"family":"<Doe & co>"}],"x":"\u2028"}`),
		json.RawMessage(`[1,2.5e3,"a\"b"]`),
		json.RawMessage(nil),
		map[string]any{},
		"plain text <b> & \u2028 \x01 \xff é",
		"",
		decoded,
	}
	headerSets := []map[string]string{
		nil,
		{},
		{"content-type": "application/json", "x-a": "1, 2", "accept": "*/*", "x-weird\"key": "v<&>\u2029", "z": "\xfe"},
	}
	querySets := []map[string]any{
		nil,
		{},
		{"a": "1", "b": []string{"x", "y<"}, "c": []string{}, "d": []string(nil), "é": "ü"},
	}
	for _, tx := range txs {
		for _, data := range datas {
			for _, h := range headerSets {
				for _, q := range querySets {
					doc := inputDoc{Data: data, OpenHIM: workflow.OpenHIMState(tx, "run-1"),
						Request: requestDoc{Headers: h, Method: "POST", Path: "/p<a>th é", Query: q}}
					var buf bytes.Buffer
					enc := json.NewEncoder(&buf)
					enc.SetEscapeHTML(false)
					wantErr := enc.Encode(doc)
					got, err := appendInputState(nil, data, tx, "run-1", doc.Request)
					if (err != nil) != (wantErr != nil) {
						t.Fatalf("error %v, encoding/json's %v", err, wantErr)
					}
					if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); err == nil && !bytes.Equal(got, want) {
						t.Errorf("appendInputState wrote\n%s\nencoding/json writes\n%s", got, want)
					}
				}
			}
		}
	}
}
