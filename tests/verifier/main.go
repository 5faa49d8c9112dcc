// An independent verifier of worktrail's proofs, built on the Go team's signed-note and
// transparency-log packages (golang.org/x/mod/sumdb/note and .../tlog: the reference
// implementations of C2SP signed notes and of RFC 6962 Merkle trees). It talks to a
// worktrail server over HTTP the way a third party does, trusting nothing but the verifier
// key it is given:
//
//	verifier -url URL -token TOKEN -key VERIFIER_KEY -events 1,2,3 [-since CHECKPOINT_FILE]
//
// It opens the latest signed checkpoint, checks each event's inclusion proof against it
// (the leaf recomputed from the event's hash as the server serves the event), and, with
// -since, the consistency proof from a signed checkpoint kept from before (as a witness
// keeps them) to the latest one.
// Exit status 0 and one line of what was verified, or 1 and what failed.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

type proof struct {
	LeafIndex  int64    `json:"leaf_index"`
	TreeSize   int64    `json:"tree_size"`
	LeafHash   string   `json:"leaf_hash"`
	AuditPath  []string `json:"audit_path"`
	Checkpoint string   `json:"checkpoint"`
}

type consistency struct {
	First  int64    `json:"first"`
	Second int64    `json:"second"`
	Proof  []string `json:"proof"`
}

type client struct {
	base  string
	token string
}

func (c client) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

func (c client) getJSON(path string, into any) error {
	body, err := c.get(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, into)
}

// open checks a signed checkpoint with the trusted key and reads its three lines:
// origin, tree size, base64 root hash (C2SP tlog-checkpoint).
func open(text []byte, verifiers note.Verifiers) (checkpoint, error) {
	n, err := note.Open(text, verifiers)
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return checkpoint{}, fmt.Errorf("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return checkpoint{}, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	root, err := hash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: bad root hash: %w", err)
	}
	return checkpoint{lines[0], size, root}, nil
}

func hash(b64 string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return h, err
	}
	if len(raw) != tlog.HashSize {
		return h, fmt.Errorf("%d bytes, not %d", len(raw), tlog.HashSize)
	}
	copy(h[:], raw)
	return h, nil
}

func hashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(list))
	for i, b64 := range list {
		h, err := hash(b64)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// included checks one event: its leaf is RecordHash of its 32-byte hash, and the audit path
// leads from that leaf to the checkpoint's root.
func included(c client, verifiers note.Verifiers, id string, latest checkpoint) error {
	var event struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := c.getJSON("/api/v1/events/"+id, &event); err != nil {
		return err
	}
	var p proof
	path := fmt.Sprintf("/api/v1/events/%s/proof?tree_size=%d", id, latest.size)
	if err := c.getJSON(path, &p); err != nil {
		return err
	}
	if _, err := open([]byte(p.Checkpoint), verifiers); err != nil {
		return fmt.Errorf("event %s: %w", id, err)
	}
	raw, err := hex.DecodeString(event.Hash)
	if err != nil || len(raw) != tlog.HashSize {
		return fmt.Errorf("event %s: its hash is not 32 bytes of hex", id)
	}
	leaf := tlog.RecordHash(raw)
	if p.LeafIndex != event.Seq-1 || p.TreeSize != latest.size {
		return fmt.Errorf("event %s: proof of leaf %d in %d, not %d in %d",
			id, p.LeafIndex, p.TreeSize, event.Seq-1, latest.size)
	}
	if given, err := hash(p.LeafHash); err != nil || given != leaf {
		return fmt.Errorf("event %s: the proof's leaf hash is not that of the event's hash", id)
	}
	audit, err := hashes(p.AuditPath)
	if err != nil {
		return fmt.Errorf("event %s: audit path: %w", id, err)
	}
	if err := tlog.CheckRecord(audit, latest.size, latest.root, p.LeafIndex, leaf); err != nil {
		return fmt.Errorf("event %s (seq %d) is not in the checkpoint of %d events: %w",
			id, event.Seq, latest.size, err)
	}
	return nil
}

// consistent checks that the tree of a checkpoint kept from before (`old`, already
// opened with the trusted key) is a prefix of the latest tree.
func consistent(c client, old, latest checkpoint) error {
	if old.origin != latest.origin {
		return fmt.Errorf("the kept checkpoint is of %s, not %s", old.origin, latest.origin)
	}
	if old.size > latest.size {
		return fmt.Errorf("the log shrank: %d events, after a checkpoint of %d", latest.size, old.size)
	}
	var cp consistency
	path := fmt.Sprintf("/api/v1/integrity/consistency?first=%d&second=%d", old.size, latest.size)
	if err := c.getJSON(path, &cp); err != nil {
		return err
	}
	steps, err := hashes(cp.Proof)
	if err != nil {
		return fmt.Errorf("consistency proof: %w", err)
	}
	if err := tlog.CheckTree(steps, latest.size, latest.root, old.size, old.root); err != nil {
		return fmt.Errorf("the tree of %d events is not a prefix of the tree of %d: %w",
			old.size, latest.size, err)
	}
	return nil
}

func run() error {
	base := flag.String("url", "", "the server, e.g. http://127.0.0.1:8000")
	token := flag.String("token", "", "an API token")
	key := flag.String("key", "", "the log's verifier key, name+hexid+base64")
	events := flag.String("events", "", "comma-separated event ids")
	since := flag.String("since", "", "a file holding a signed checkpoint kept from before")
	flag.Parse()
	verifier, err := note.NewVerifier(*key)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	verifiers := note.VerifierList(verifier)
	c := client{strings.TrimRight(*base, "/"), *token}
	text, err := c.get("/api/v1/integrity/checkpoint")
	if err != nil {
		return err
	}
	latest, err := open(text, verifiers)
	if err != nil {
		return err
	}
	ids := strings.FieldsFunc(*events, func(r rune) bool { return r == ',' })
	for _, id := range ids {
		if err := included(c, verifiers, id, latest); err != nil {
			return err
		}
	}
	done := fmt.Sprintf("checkpoint %s of %d events; %d inclusion proofs", latest.origin, latest.size, len(ids))
	if *since != "" {
		text, err := os.ReadFile(*since)
		if err != nil {
			return err
		}
		old, err := open(text, verifiers)
		if err != nil {
			return fmt.Errorf("the kept checkpoint: %w", err)
		}
		if err := consistent(c, old, latest); err != nil {
			return err
		}
		done += fmt.Sprintf("; consistent with the kept checkpoint of %d events", old.size)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fmt.Fprintln(out, "verified:", done)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "verifier:", err)
		os.Exit(1)
	}
}
