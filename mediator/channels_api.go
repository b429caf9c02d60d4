package mediator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// ChannelIDs lists core's channels (GET /channels) and returns their ids by
// name. The mediator needs them to attach transactions it records itself
// (scheduled pulls) to its own channels, so console filters and reruns work.
func (c *Client) ChannelIDs(ctx context.Context) (map[string]string, error) {
	const op = "list channels (GET /channels)"
	status, body, err := c.do(ctx, op, http.MethodGet, "/channels", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.apiError(op, status, body)
	}
	var chans []struct {
		ID   string `json:"_id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &chans); err != nil {
		return nil, fmt.Errorf("openhim: %s: answer is not a JSON array of channels: %v", op, err)
	}
	out := make(map[string]string, len(chans))
	for _, ch := range chans {
		out[ch.Name] = ch.ID
	}
	return out, nil
}
