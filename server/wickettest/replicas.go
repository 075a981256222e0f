package wickettest

import (
	"context"
	"time"

	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
)

// Harness options for replicas on PostgreSQL.
var (
	// WithPostgres keeps the store in a fresh PostgreSQL database (see
	// servertest.WithPostgres); Server.Replica starts more servers on it.
	WithPostgres = servertest.WithPostgres
	// WithReplicaURLs gives the server fixed addresses of the instance.
	WithReplicaURLs = servertest.WithReplicaURLs
)

// SharedFiles are the files of a data directory that replicas of one
// instance must share: the master key and the TLS certificate and key.
var SharedFiles = []string{seal.KeyFileName, tlscert.CertFileName, tlscert.KeyFileName}

// TOTPCode returns the authenticator code of secret at t, for servers
// that run on the real clock (wicketd processes).
func TOTPCode(secret string, t time.Time) (string, error) { return mfa.TOTPCode(secret, t) }

// TOTPPeriod is the length of one authenticator step.
const TOTPPeriod = mfa.Period

// PingUntil pings addr through a netstack tunnel until a reply comes or
// ctx ends (the first packets may be spent on the handshake).
func PingUntil(ctx context.Context, n *netstack.Net, addr string) error {
	return (&gatewaytest.Client{Net: n}).PingUntil(ctx, addr)
}
