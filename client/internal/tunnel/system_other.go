//go:build !linux && !darwin && !windows

package tunnel

import (
	"context"
	"errors"
)

func upSystem(ctx context.Context, cfg Config, opts Options) (Tunnel, error) {
	return nil, errors.New("system tunnels are not supported on this operating system; use userspace mode (`wicket connect --userspace`)")
}
