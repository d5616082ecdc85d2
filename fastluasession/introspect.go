package fastluasession

// The introspection call: one GET to Config.SessionURL with the credential, whose outcome is
// cached for as long as its kind allows (a user TTL, a refusal NegativeTTL, a failure
// FailureTTL). Nothing here fails the request: every outcome is an entry.

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
)

// introspect asks SessionURL about a credential.
func (b *Builder) introspect(key credKey, apiKey, token string) *entry {
	b.stats.calls.Add(1)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(b.cfg.SessionURL)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set(fasthttp.HeaderAccept, "application/json")
	if apiKey != "" {
		req.Header.Set(b.cfg.APIKeyHeader, apiKey)
	}
	req.Header.Set(b.cfg.SessionTokenHeader, token)
	req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+token)

	err := b.cfg.HTTPClient.DoTimeout(req, resp, b.cfg.Timeout)
	now := b.cfg.Now()
	status := resp.StatusCode()
	if err == nil {
		switch {
		case status == fasthttp.StatusUnauthorized || status == fasthttp.StatusForbidden:
			b.stats.callRejected.Add(1)
			b.cfg.Logger.Info("fastluasession: the session endpoint refused the credential: the session has no user", "credential", key.String(), "status", status)
			return &entry{expires: now.Add(b.cfg.NegativeTTL)}
		case status < 200 || status > 299:
			err = fmt.Errorf("status %d", status)
		case len(resp.Body()) > maxAnswerSize:
			err = fmt.Errorf("an answer of %d bytes (at most %d)", len(resp.Body()), maxAnswerSize)
		default:
			var id *identity
			if id, err = decodeAnswer(resp.Body()); err == nil {
				b.stats.callUsers.Add(1)
				return &entry{id: id, expires: now.Add(b.cfg.TTL)}
			}
		}
	} else if errors.Is(err, fasthttp.ErrTimeout) {
		err = fmt.Errorf("no answer within %s (Config.Timeout): %w", b.cfg.Timeout, err)
	}
	b.stats.callFailed.Add(1)
	b.cfg.Logger.Warn("fastluasession: the session endpoint failed: the session has no user", "url", b.cfg.SessionURL,
		"credential", key.String(), "error", err.Error())
	return &entry{expires: now.Add(b.cfg.FailureTTL)}
}

// decodeAnswer maps a 2xx answer's JSON object to an identity.
func decodeAnswer(body []byte) (*identity, error) {
	var f map[string]any
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object: %w", err)
	}
	if f == nil {
		return nil, errors.New("the answer is null, not a JSON object")
	}
	return fromFields(f, "id", "role")
}
