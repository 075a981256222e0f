package gateway_test

// A minimal WireGuard initiator, written from the protocol's description
// (https://www.wireguard.com/protocol/), so that the handshake benchmark can
// send real initiations from thousands of client keys without a device per
// key. It makes the first handshake message, reads the responder's answer
// and confirms the session with a keepalive, which is what makes the
// responder count the handshake as complete.

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

const (
	initiationSize = 148
	responseSize   = 92
	keepaliveSize  = 32
)

var (
	noiseChainKey [blake2s.Size]byte // HASH(construction)
	noiseHash     [blake2s.Size]byte // HASH(chain key || identifier)
)

func init() {
	noiseChainKey = blake2s.Sum256([]byte("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"))
	noiseHash = blake2s.Sum256(append(noiseChainKey[:], "WireGuard v1 zx2c4 Jason@zx2c4.com"...))
}

func newBlake() hash.Hash { h, _ := blake2s.New256(nil); return h }

func hmacSum(key []byte, parts ...[]byte) (out [32]byte) {
	m := hmac.New(newBlake, key)
	for _, p := range parts {
		m.Write(p)
	}
	m.Sum(out[:0])
	return out
}

// kdf derives n (1 to 3) keys from the chain key c and input.
func kdf(c [32]byte, input []byte, n int) (out [3][32]byte) {
	t0 := hmacSum(c[:], input)
	out[0] = hmacSum(t0[:], []byte{1})
	if n > 1 {
		out[1] = hmacSum(t0[:], out[0][:], []byte{2})
	}
	if n > 2 {
		out[2] = hmacSum(t0[:], out[1][:], []byte{3})
	}
	return out
}

func mix(h [32]byte, data []byte) [32]byte { return blake2s.Sum256(append(h[:], data...)) }

func dh(priv, pub []byte) []byte {
	s, err := curve25519.X25519(priv, pub)
	if err != nil {
		panic(err)
	}
	return s
}

func seal(key [32]byte, counter uint64, plain, ad []byte) []byte {
	a, _ := chacha20poly1305.New(key[:])
	var nonce [chacha20poly1305.NonceSize]byte
	binary.LittleEndian.PutUint64(nonce[4:], counter)
	return a.Seal(nil, nonce[:], plain, ad)
}

// initiator is one client key's handshake in progress.
type initiator struct {
	static, server, psk wgkey.Key
	index               uint32
	ephemeral           [32]byte
	chain, hash         [32]byte
}

// tai64n is the initiation's timestamp; the responder takes only ever
// later ones from a peer.
func tai64n(t time.Time) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(0x400000000000000a)+uint64(t.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return b
}

// initiation makes the first handshake message.
func (in *initiator) initiation(now time.Time) []byte {
	if _, err := rand.Read(in.ephemeral[:]); err != nil {
		panic(err)
	}
	epub, _ := curve25519.X25519(in.ephemeral[:], curve25519.Basepoint)
	c, h := noiseChainKey, mix(noiseHash, in.server[:])
	c = kdf(c, epub, 1)[0]
	h = mix(h, epub)
	k := kdf(c, dh(in.ephemeral[:], in.server[:]), 2)
	c = k[0]
	pub := in.static.Public()
	static := seal(k[1], 0, pub[:], h[:])
	h = mix(h, static)
	k = kdf(c, dh(in.static[:], in.server[:]), 2)
	c = k[0]
	ts := seal(k[1], 0, tai64n(now), h[:])
	h = mix(h, ts)
	in.chain, in.hash = c, h

	msg := make([]byte, 0, initiationSize)
	msg = binary.LittleEndian.AppendUint32(msg, 1)
	msg = binary.LittleEndian.AppendUint32(msg, in.index)
	msg = append(msg, epub...)
	msg = append(msg, static...)
	msg = append(msg, ts...)
	mac1Key := blake2s.Sum256(append([]byte("mac1----"), in.server[:]...))
	m, _ := blake2s.New128(mac1Key[:])
	m.Write(msg)
	msg = m.Sum(msg)
	return append(msg, make([]byte, 16)...) // no cookie: mac2 is zero
}

// confirm reads the responder's answer and returns the keepalive that
// completes the handshake on the responder's side.
func (in *initiator) confirm(resp []byte) ([]byte, error) {
	if len(resp) != responseSize || binary.LittleEndian.Uint32(resp) != 2 || binary.LittleEndian.Uint32(resp[8:]) != in.index {
		return nil, errors.New("not a handshake response to this initiation")
	}
	sender := binary.LittleEndian.Uint32(resp[4:])
	epub, empty := resp[12:44], resp[44:60]
	c, h := in.chain, in.hash
	c = kdf(c, epub, 1)[0]
	h = mix(h, epub)
	c = kdf(c, dh(in.ephemeral[:], epub), 1)[0]
	c = kdf(c, dh(in.static[:], epub), 1)[0]
	k := kdf(c, in.psk[:], 3)
	c = k[0]
	h = mix(h, k[1][:])
	a, _ := chacha20poly1305.New(k[2][:])
	if _, err := a.Open(nil, make([]byte, chacha20poly1305.NonceSize), empty, h[:]); err != nil {
		return nil, errors.New("the handshake response does not authenticate")
	}
	send := kdf(c, nil, 2)[0]
	msg := make([]byte, 0, keepaliveSize)
	msg = binary.LittleEndian.AppendUint32(msg, 4)
	msg = binary.LittleEndian.AppendUint32(msg, sender)
	msg = binary.LittleEndian.AppendUint64(msg, 0)
	return append(msg, seal(send, 0, nil, nil)...), nil
}
