package mediator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// CoreChannel is what the mediator reads of a channel stored in core
// (GET /channels): enough to tell its own default channels from another
// mediator's, and to find the polling ones.
type CoreChannel struct {
	ID              string  `json:"_id"`
	Name            string  `json:"name"`
	Description     string  `json:"description"`
	Type            string  `json:"type"`
	Status          string  `json:"status"`
	PollingSchedule string  `json:"pollingSchedule"`
	Routes          []Route `json:"routes"`
}

// Enabled is core's isChannelEnabled: a missing status means enabled.
func (ch CoreChannel) Enabled() bool { return ch.Status == "" || ch.Status == "enabled" }

// ListChannels is GET /channels (openhim.md §7.2). Core answers with the
// channels the API user may view: all of them for an admin.
func (c *Client) ListChannels(ctx context.Context) ([]CoreChannel, error) {
	const op = "list channels (GET /channels)"
	status, body, err := c.do(ctx, op, http.MethodGet, "/channels", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.apiError(op, status, body)
	}
	var chans []CoreChannel
	if err := json.Unmarshal(body, &chans); err != nil {
		return nil, fmt.Errorf("openhim: %s: answer is not a JSON array of channels: %v", op, err)
	}
	return chans, nil
}

// ChannelIDs lists core's channels (GET /channels) and returns their ids by
// name. The mediator needs them to attach transactions it records itself
// (scheduled pulls) to its own channels, so console filters and reruns work.
func (c *Client) ChannelIDs(ctx context.Context) (map[string]string, error) {
	chans, err := c.ListChannels(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(chans))
	for _, ch := range chans {
		out[ch.Name] = ch.ID
	}
	return out, nil
}

// ResaveChannel reads a channel (GET /channels/:id) and saves it back
// unchanged (PUT /channels/:id with the document as read). Core 8.5
// registers a polling channel's schedule only when the channel is created
// or updated through /channels, or at core's own start: channels installed
// with POST /mediators/:urn/channels are saved straight to the database and
// never polled (openhim.md §15). An update runs core's post-update triggers
// (openhim-core-js:src/api/channels.js processPostUpdateTriggers), which
// (re)create the Agenda job for an enabled polling channel; like any
// (re)creation, it fires once at once. The document is sent back as read,
// as was observed to work on a running 8.5 core, so nothing an operator set
// in the console changes.
func (c *Client) ResaveChannel(ctx context.Context, id string) error {
	path := "/channels/" + url.PathEscape(id)
	const getOp = "read channel (GET /channels/:id)"
	status, body, err := c.do(ctx, getOp, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return c.apiError(getOp, status, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return fmt.Errorf("openhim: %s: answer is not a channel document", getOp)
	}
	const putOp = "save channel unchanged (PUT /channels/:id)"
	status, body, err = c.do(ctx, putOp, http.MethodPut, path, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return c.apiError(putOp, status, body)
	}
	return nil
}
