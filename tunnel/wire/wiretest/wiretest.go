// Package wiretest speaks raw websocket frames (RFC 6455) for tests that
// need to send what no well-behaved peer sends: reserved bits and opcodes,
// fragments, control frames between them. It does both handshakes by hand
// and leaves every frame to the test.
package wiretest

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// First bytes of frames: FIN, RSV1-3, opcodes.
const (
	FIN  byte = 0x80
	RSV1 byte = 0x40
	RSV2 byte = 0x20
	RSV3 byte = 0x10

	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// AppendFrame appends a frame with first byte first (FIN, RSV and opcode
// bits) and payload, masked with a fixed key when mask is set (as a client
// sends).
func AppendFrame(b []byte, first byte, payload []byte, mask bool) []byte {
	b = append(b, first)
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{0x1f, 0x2e, 0x3d, 0x4c}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// A Frame is one frame read.
type Frame struct {
	First   byte // FIN, RSV and opcode bits
	Payload []byte
}

// Opcode returns the frame's opcode.
func (f Frame) Opcode() byte { return f.First & 0x0f }

// CloseCode returns the status code of a close frame, 1005 when it has
// none.
func (f Frame) CloseCode() int {
	if len(f.Payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// CloseReason returns the reason text of a close frame.
func (f Frame) CloseReason() string {
	if len(f.Payload) < 2 {
		return ""
	}
	return string(f.Payload[2:])
}

// ReadFrame reads one frame, unmasking it, with a payload of at most
// 64 MiB.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 64<<20 {
		return Frame{}, fmt.Errorf("frame of %d bytes", n)
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return Frame{}, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return Frame{}, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return Frame{First: h[0], Payload: p}, nil
}

const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func accept(key string) string {
	h := sha1.Sum([]byte(key + guid))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ClientHandshake asks for a websocket at path on conn, whose host is host,
// and reads the 101 answer. Frames follow on the returned reader.
func ClientHandshake(conn net.Conn, host, path string) (*bufio.Reader, error) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	_, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, key)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != accept(key) {
		return nil, fmt.Errorf("handshake answered %s", resp.Status)
	}
	return br, nil
}

// ServerHandshake reads a websocket handshake request on conn and answers
// 101. Frames follow on the returned reader.
func ServerHandshake(conn net.Conn) (*bufio.Reader, error) {
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
		return nil, errors.New("not a websocket handshake")
	}
	_, err = fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept(key))
	return br, err
}
