// Command interop checks Pavilion's signed checkpoints and witness
// cosignatures with libraries the project did not write:
// golang.org/x/mod/sumdb/note (the log's Ed25519 signature, signed-note),
// filippo.io/torchwood (C2SP tlog-cosignature/v1, Ed25519) and
// github.com/cloudflare/circl (FIPS 204 ML-DSA-44, for the subtree/v1
// cosignature whose message is built here from the spec text).
//
// Input on stdin, JSON: {"note", "logKey", "ed25519Witness": {"signerKey",
// "verifierKey"}, "mldsaWitness": {"verifierKey"}}. Output on stdout, JSON:
// what verified, torchwood's encoding of the Ed25519 witness key, and a
// cosignature torchwood made itself (for the TypeScript side to verify).
// Any failure exits 1 with the reason on stderr.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"filippo.io/torchwood"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"golang.org/x/mod/sumdb/note"
)

type input struct {
	Note           string `json:"note"`
	LogKey         string `json:"logKey"`
	Ed25519Witness struct {
		SignerKey   string `json:"signerKey"`
		VerifierKey string `json:"verifierKey"`
	} `json:"ed25519Witness"`
	MldsaWitness struct {
		VerifierKey string `json:"verifierKey"`
	} `json:"mldsaWitness"`
}

type output struct {
	LogVerifiedBy        []string `json:"logVerifiedBy"`
	TorchwoodVerifierKey string   `json:"torchwoodVerifierKey"`
	Ed25519Cosigned      bool     `json:"ed25519Cosigned"`
	Ed25519Timestamp     int64    `json:"ed25519Timestamp"`
	MldsaCosigned        bool     `json:"mldsaCosigned"`
	MldsaTimestamp       uint64   `json:"mldsaTimestamp"`
	GoCosignatureLine    string   `json:"goCosignatureLine"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("input: %v", err)
	}
	var out output

	// 1. The log's signature, with x/mod's own verifier.
	logV, err := note.NewVerifier(in.LogKey)
	if err != nil {
		fail("log key: %v", err)
	}

	// 2. The Ed25519 witness as torchwood builds it from the same seed: its
	// verifier key must be the one Pavilion publishes, and its verifier must
	// accept Pavilion's cosignature.
	name, seed := parseSigner(in.Ed25519Witness.SignerKey, 0x04)
	cosigner, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		fail("torchwood signer: %v", err)
	}
	out.TorchwoodVerifierKey = cosigner.Verifier().String()

	n, err := note.Open([]byte(in.Note), note.VerifierList(logV, cosigner.Verifier()))
	if err != nil {
		fail("note.Open: %v", err)
	}
	for _, s := range n.Sigs {
		if s.Name == logV.Name() && s.Hash == logV.KeyHash() {
			out.LogVerifiedBy = append(out.LogVerifiedBy, s.Name)
		}
		if s.Name == cosigner.Name() && s.Hash == cosigner.KeyHash() {
			out.Ed25519Cosigned = true
			if out.Ed25519Timestamp, err = torchwood.CosignatureTimestamp(s); err != nil {
				fail("timestamp: %v", err)
			}
		}
	}

	// 3. torchwood cosigns the same checkpoint body; Pavilion must accept it.
	signed, err := note.Sign(&note.Note{Text: n.Text}, cosigner)
	if err != nil {
		fail("torchwood cosign: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	out.GoCosignatureLine = lines[len(lines)-1] + "\n"

	// 4. The ML-DSA-44 cosignature, message built from the spec.
	if in.MldsaWitness.VerifierKey != "" {
		out.MldsaCosigned, out.MldsaTimestamp = verifyMldsa(in.Note, n.Text, in.MldsaWitness.VerifierKey)
	}

	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("output: %v", err)
	}
}

// parseSigner reads PRIVATE+KEY+<name>+<id>+base64(type||seed).
func parseSigner(s string, want byte) (string, []byte) {
	parts := strings.SplitN(s, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		fail("malformed signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 || raw[0] != want {
		fail("signer key is not of type %#x", want)
	}
	return parts[2], raw[1:]
}

func verifyMldsa(noteText, body, vkey string) (bool, uint64) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("malformed ML-DSA verifier key")
	}
	name := parts[0]
	id, err := strconv.ParseUint(parts[1], 16, 32)
	raw, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || err2 != nil || len(raw) != 1+mldsa44.PublicKeySize || raw[0] != 0x06 {
		fail("malformed ML-DSA verifier key")
	}
	h := sha256.Sum256(append([]byte(name+"\n"), raw...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(id) {
		fail("ML-DSA key id does not match")
	}
	var pk mldsa44.PublicKey
	if err := pk.UnmarshalBinary(raw[1:]); err != nil {
		fail("ML-DSA public key: %v", err)
	}
	cp, err := torchwood.ParseCheckpoint(body)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	sigs := noteText[strings.LastIndex(noteText, "\n\n")+2:]
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		fields := strings.SplitN(strings.TrimPrefix(line, "\u2014 "), " ", 2)
		if len(fields) != 2 || fields[0] != name {
			continue
		}
		payload, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil || len(payload) != 4+8+mldsa44.SignatureSize || binary.BigEndian.Uint32(payload) != uint32(id) {
			continue
		}
		ts := binary.BigEndian.Uint64(payload[4:12])
		// c2sp.org/tlog-cosignature, ML-DSA-44 signed message (cosigned_message).
		var msg bytes.Buffer
		msg.WriteString("subtree/v1\n\x00")
		msg.WriteByte(byte(len(name)))
		msg.WriteString(name)
		binary.Write(&msg, binary.BigEndian, ts)
		msg.WriteByte(byte(len(cp.Origin)))
		msg.WriteString(cp.Origin)
		binary.Write(&msg, binary.BigEndian, uint64(0))
		binary.Write(&msg, binary.BigEndian, uint64(cp.N))
		msg.Write(cp.Hash[:])
		if mldsa44.Verify(&pk, msg.Bytes(), nil, payload[12:]) {
			return true, ts
		}
		fail("ML-DSA-44 cosignature by %s does not verify", name)
	}
	return false, 0
}
