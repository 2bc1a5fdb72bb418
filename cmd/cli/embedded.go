package cli

import (
	"context"
	"errors"
	"io"

	"github.com/hookctl/hookctl/tunnel"
)

// embeddedRelay is the relay hookctl runs in-process when none is configured.
type embeddedRelay struct {
	URL   string
	close func() error
}

func (e *embeddedRelay) Close() error { return e.close() }

func startEmbedded(ctx context.Context, f *Factory, warn io.Writer) (*embeddedRelay, error) {
	return nil, errors.New("the embedded relay is not available yet; pass --relay")
}

func openEmbeddedAPI(ctx context.Context, f *Factory) (*tunnel.APIClient, func(), error) {
	return nil, nil, errors.New("the embedded relay is not available yet; pass --relay")
}
